import re, sys, bisect, collections
samples=[]  # (tid, time, [syms...])
cur=None
for line in open(sys.argv[1]):
    if not line.strip():
        if cur: samples.append(cur); cur=None
        continue
    m=re.match(r'^\s*(\d+)\s+([\d.]+):\s*$',line)
    if m:
        if cur: samples.append(cur)
        cur=(int(m.group(1)),float(m.group(2)),[])
        continue
    if cur is not None:
        cur[2].append(line.strip())
if cur: samples.append(cur)
tids=collections.Counter(s[0] for s in samples)
print(tids.most_common(4))
caller=min(t for t,_ in tids.most_common(2))
worker=max(t for t,_ in tids.most_common(2))
wt=[(s[1], any('ThreadPool::worker' in f or 'wait_for_new_generation' in f for f in s[2][:1])) for s in samples if s[0]==worker]
wtimes=[w[0] for w in wt]
def short(f):
    f=re.sub(r'^[0-9a-f]+ ','',f)
    f=re.sub(r'\(.*','',f)
    return f[:110]
agg=collections.Counter(); tot=0; idle=0
for s in samples:
    if s[0]!=caller: continue
    i=bisect.bisect_left(wtimes,s[1])
    near=[wt[j] for j in (i-1,i) if 0<=j<len(wt) and abs(wt[j][0]-s[1])<60e-6]
    if not near: continue
    tot+=1
    if all(n[1] for n in near):
        idle+=1
        # leaf and first mnemo::nn/models frame
        chain=[short(f) for f in s[2]]
        ctx=next((c for c in chain[1:] if 'nn::' in c or 'models::' in c or 'memory::' in c), '?')
        agg[(chain[0][:70], ctx[:90])]+=1
print('caller samples with worker nearby', tot, 'worker idle during', idle, '%.1f%%'%(100*idle/max(tot,1)))
for k,v in agg.most_common(30): print('%5d %5.1f%%  %s  <-  %s'%(v,100*v/max(tot,1),k[0],k[1]))
