# gnuplot script written by mnemo-bench: gnuplot docs/results/mnemo_bench/rollout.gp
set terminal pngcairo size 1200,480 noenhanced
set output 'docs/results/mnemo_bench/rollout.png'
set multiplot layout 1,2 title 'rollout: median time and peak working memory'
set grid
set key top left
set xlabel 'rollout'
set ylabel 'ms per call: median wall (bars: min-max), process CPU'
plot 'docs/results/mnemo_bench/rollout.dat' index 0 using 1:2:3:4 with yerrorlines lc 1 title 'method=mrbp wall', \
     'docs/results/mnemo_bench/rollout.dat' index 0 using 1:8 with linespoints dt 2 lc 1 title 'method=mrbp CPU', \
     'docs/results/mnemo_bench/rollout.dat' index 1 using 1:2:3:4 with yerrorlines lc 2 title 'method=bptt wall', \
     'docs/results/mnemo_bench/rollout.dat' index 1 using 1:8 with linespoints dt 2 lc 2 title 'method=bptt CPU'
set ylabel 'peak working memory above start (MiB)'
plot 'docs/results/mnemo_bench/rollout.dat' index 0 using 1:5 with linespoints lc 1 title 'method=mrbp', \
     'docs/results/mnemo_bench/rollout.dat' index 1 using 1:5 with linespoints lc 2 title 'method=bptt'
unset multiplot
