#!/usr/bin/env bash
# prepare_kjv.sh DIR — writes the 66 books of the King James Bible as plain-text documents
# DIR/NN_Book.txt (NN = canonical order), the corpus of examples/real_text_lm.cpp.
#
# Source: Debian's bible-kjv-text (the text, compressed, in /usr/lib/bible.data) read through the
# `bible` program of bible-kjv (`apt-get install bible-kjv`, which pulls bible-kjv-text). Every
# verse is one line "Chapter:Verse text"; chapters are separated by a blank line. Nothing is
# generated: the bytes are the package's text with its verse references.
set -euo pipefail
out="${1:?usage: prepare_kjv.sh DIR}"
command -v bible >/dev/null || { echo "prepare_kjv.sh: the 'bible' program is missing (apt-get install bible-kjv)" >&2; exit 2; }
mkdir -p "$out"
# -f: one verse per line, "Ge1:1 In the beginning ..."; the whole canon in one range.
bible -f "Ge1:1-Re22:21" | awk -v out="$out" '
  match($0, /^[1-3]?[A-Za-z]+[0-9]+:[0-9]+ /) {
    ref = substr($0, 1, RLENGTH - 1); text = substr($0, RLENGTH + 1)
    match(ref, /^[1-3]?[A-Za-z]+/); book = substr(ref, 1, RLENGTH); cv = substr(ref, RLENGTH + 1)
    split(cv, p, ":")
    if (book != current) {
      if (file != "") close(file)
      current = book; n++; chapter = ""
      file = sprintf("%s/%02d_%s.txt", out, n, book)
      printf "" > file
    }
    if (p[1] != chapter && chapter != "") printf "\n" >> file
    chapter = p[1]
    printf "%s %s\n", cv, text >> file
  }'
count=$(ls "$out"/*.txt | wc -l)
[[ $count == 66 ]] || { echo "prepare_kjv.sh: wrote $count books, expected 66" >&2; exit 1; }
printf 'prepare_kjv.sh: %s books, %s bytes in %s\n' "$count" "$(cat "$out"/*.txt | wc -c)" "$out"
