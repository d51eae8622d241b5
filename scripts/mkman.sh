#!/bin/sh
# Build a man page from a hand-written roff template and a program's --help texts,
# so that the options in the page are the ones the program prints.
#   scripts/mkman.sh PROGRAM TEMPLATE VERSION > PAGE
# In TEMPLATE, a line "@HELP@" becomes the output of `PROGRAM --help`, a line
# "@HELP ARGS...@" the output of `PROGRAM ARGS... --help`, set verbatim (roff
# special characters escaped); @VERSION@ anywhere becomes VERSION.
set -eu
prog=$1 template=$2 version=$3
help() {
        # a help text that also exits non-zero (usage on stderr) is taken as it is
        "$prog" "$@" --help 2>&1 || true
}
escape() {
        # backslash first; '-' as \- (an ASCII minus, not a hyphen); a leading '.'
        # or "'" would be a request
        sed -e 's/\\/\\e/g' -e 's/-/\\-/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"
}
while IFS= read -r line || [ -n "$line" ]; do
        case $line in
        @HELP*@)
                args=${line#@HELP}
                args=${args%@}
                out=$(help $args)
                [ -n "$out" ] || { echo "mkman: $prog$args --help printed nothing" >&2; exit 1; }
                printf '.nf\n.ft CR\n'
                printf '%s\n' "$out" | escape
                printf '.ft R\n.fi\n'
                ;;
        *) printf '%s\n' "$line" | sed "s/@VERSION@/$version/g" ;;
        esac
done <"$template"
