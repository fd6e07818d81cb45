#!/usr/bin/env bash
# plot.sh RESULTS.csv OUT.png — held-out bits per byte by position in the document, one line per
# arm, mean over seeds with ± one standard error bars, from a results file of real_text_lm.
# Writes OUT.dat (the plotted numbers) next to OUT.png; needs gnuplot (apt-get install gnuplot-nox).
set -euo pipefail
csv="${1:?usage: plot.sh RESULTS.csv OUT.png}" png="${2:?usage: plot.sh RESULTS.csv OUT.png}"
dat="${png%.png}.dat"
# Per arm and bucket: bits/byte of each seed = bits_k / count_k; then mean and standard error.
awk -F, '
  /^#/ { next }
  /^arm,/ { nb = 0; for (i = 1; i <= NF; i++) if ($i ~ /^bits_[0-9]+$/) nb++; next }  # held-out columns only
  {
    for (k = 0; k < nb; k++) if ($(6 + nb + k) > 0) {
      x = $(6 + k) / $(6 + nb + k); key = $1 SUBSEP k
      n[key]++; s[key] += x; ss[key] += x * x; arms[$1] = 1; buckets = nb } }
  END {
    split("memformer memformer-reset inf-former no-ltm", order, " ")
    for (i = 1; i <= 4; i++) { a = order[i]; if (!(a in arms)) continue
      printf "# %s\n", a
      for (k = 0; k < buckets; k++) { key = a SUBSEP k; if (!(key in n)) continue
        m = s[key] / n[key]; v = n[key] > 1 ? (ss[key] - n[key] * m * m) / (n[key] - 1) : 0
        printf "%d %.6f %.6f %d\n", k, m, (v > 0 ? sqrt(v / n[key]) : 0), n[key] }
      printf "\n\n" } }' "$csv" >"$dat"
command -v gnuplot >/dev/null || { echo "plot.sh: wrote $dat; gnuplot is missing (apt-get install gnuplot-nox)" >&2; exit 0; }
gnuplot <<GP
set terminal pngcairo size 760,460 font ",11"
set output "$png"
set title "Held-out bits per byte by position in the document (mean ± s.e. over seeds)"
set xlabel "position of the predicted byte in its document (bytes)"
set ylabel "bits per byte"
set xtics ("64-512" 0, "512-2048" 1, "2048-8192" 2, "8192-16384" 3)
set xrange [-0.3:3.3]
set key outside right
set grid ytics
plot for [i=0:3] "$dat" index i using (\$1 + (i - 1.5) * 0.05):2:3 with yerrorlines lw 2 title word("memformer memformer-reset inf-former no-ltm", i + 1)
GP
echo "plot.sh: $png ($dat)"
