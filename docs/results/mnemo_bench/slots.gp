# gnuplot script written by mnemo-bench: gnuplot docs/results/mnemo_bench/slots.gp
set terminal pngcairo size 1200,480 noenhanced
set output 'docs/results/mnemo_bench/slots.png'
set multiplot layout 1,2 title 'memformer-step: median time and peak working memory'
set grid
set key top left
set xlabel 'slots'
set ylabel 'ms per call: median wall (bars: min-max), process CPU'
plot 'docs/results/mnemo_bench/slots.dat' index 0 using 1:2:3:4 with yerrorlines lc 1 title 'memformer-step wall', \
     'docs/results/mnemo_bench/slots.dat' index 0 using 1:8 with linespoints dt 2 lc 1 title 'memformer-step CPU'
set ylabel 'peak working memory above start (MiB)'
plot 'docs/results/mnemo_bench/slots.dat' index 0 using 1:5 with linespoints lc 1 title 'memformer-step'
unset multiplot
