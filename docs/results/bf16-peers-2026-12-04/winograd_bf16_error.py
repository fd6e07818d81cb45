#!/usr/bin/env python3
"""Error of the gate convolution in bf16, float64 simulation (the figures in docs/benchmarks.md,
"mnemo and PyTorch in both precisions", and backend/cpu/conv3_winograd.hpp): e = 512 channels,
L = 64 positions, x ~ N(0, 1) and taps ~ N(0, 0.05²), both rounded to bf16; the exact convolution
in float64 against (a) the exact sum rounded once to bf16, (b) Winograd F(2, 3) and (c) F(4, 3)
with the transformed inputs and filters rounded to bf16 (what a bf16 GEMM needs), products and
transforms otherwise exact, each output rounded once. Prints, per method, the median of
|z − ref| / |ref| and max |z − ref| / max |ref|.
    /work/torchvenv/bin/python winograd_bf16_error.py     (needs numpy)
"""
import numpy as np
rng=np.random.default_rng(0)
def bf16(a):
    a=np.asarray(a,dtype=np.float32); u=a.view(np.uint32).astype(np.uint64)
    r=((u+0x7FFF+((u>>16)&1))>>16)<<16
    return r.astype(np.uint32).view(np.float32)
e=512; L=64
x=bf16(rng.standard_normal((L,e))); w=bf16(0.05*rng.standard_normal((3,e,e)))
xp=np.vstack([np.zeros((1,e)),x,np.zeros((1,e))]).astype(np.float64)
ref=sum(xp[k:k+L]@w[k].astype(np.float64) for k in range(3))
def rel(z): return np.median(np.abs(z-ref)/np.abs(ref)), np.max(np.abs(z-ref))/np.abs(ref).max()
print("direct bf16 (output rounded once):", rel(bf16(ref)))
# F(2,3)
BT2=np.array([[1,0,-1,0],[0,1,1,0],[0,-1,1,0],[0,1,0,-1]],float); G2=np.array([[1,0,0],[.5,.5,.5],[.5,-.5,.5],[0,0,1]]); AT2=np.array([[1,1,1,0],[0,1,-1,-1]],float)
BT4=np.array([[4,0,-5,0,1,0],[0,-4,-4,1,1,0],[0,4,-4,-1,1,0],[0,-2,-1,2,1,0],[0,2,-1,-2,1,0],[0,4,0,-5,0,1]],float)
G4=np.array([[1/4,0,0],[-1/6,-1/6,-1/6],[-1/6,1/6,-1/6],[1/24,1/12,1/6],[1/24,-1/12,1/6],[0,0,1]])
AT4=np.array([[1,1,1,1,1,0],[0,1,-1,2,-2,0],[0,1,1,4,4,0],[0,1,-1,8,-8,1]],float)
def wino(BT,G,AT,m,round_v,round_w):
    a=BT.shape[0]; out=np.zeros((L,e))
    What=np.einsum('ik,kab->iab',G,w.astype(np.float64))
    if round_w: What=bf16(What).astype(np.float64)
    xpad=np.vstack([np.zeros((1,e)),x,np.zeros((a,e))]).astype(np.float64)
    for t in range(0,L,m):
        d=xpad[t:t+a]
        V=BT@d
        if round_v: V=bf16(V).astype(np.float64)
        M=np.einsum('ia,iab->ib',V,What)
        out[t:t+m]=(AT@M)[:min(m,L-t)]
    return bf16(out)
for name,(BT,G,AT,m) in {"F(2,3)":(BT2,G2,AT2,2),"F(4,3)":(BT4,G4,AT4,4)}.items():
    print(name,"bf16 V and W:",rel(wino(BT,G,AT,m,True,True)))
