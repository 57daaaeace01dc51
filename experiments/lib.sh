# Sourced by every experiment file: the repository root as the current folder, `nas` (the command in
# NAS, default .venv/bin/nas), and the rule they share: a finished step says "done", an interrupted
# one continues, a missing one starts.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
NAS=${NAS:-.venv/bin/nas}
# The study lives in results/ ($RESULTS), not in the default results root of a user's own searches
# (./nas-results): every command gets --results, unless it names its own.
nas() {
  case " $* " in
    *" --results "*) "$NAS" "$@" ;;
    *) "$NAS" "$1" --results "${RESULTS:-results}" "${@:2}" ;;
  esac
}

# logged FILE CMD...: run CMD, its output also appended to FILE (FILE empty: just run CMD)
logged() { local f=$1; shift; if [ -n "$f" ]; then "$@" 2>&1 | tee -a "$f"; else "$@"; fi; }

# trial_of ARCH: the trial id in .../rank<N>_<trial>/arch.json
trial_of() { local t; t=$(basename "$(dirname "$1")"); echo "${t#rank*_}"; }

# Searches go to $RESULTS (default results); with SEARCH_LOG set, their output is also appended to
# $SEARCH_LOG/<id>.out.
exported() { [ -e "${RESULTS:-results}/exports/$1/summary.json" ]; }   # a search whose export exists
# search_or_resume ID ARGS...: resume the search if its record exists, else start it with ARGS
search_or_resume() {
  local id=$1 r=${RESULTS:-results}; shift
  local log=${SEARCH_LOG:+$SEARCH_LOG/$id.out}
  if [ -e "$r/searches/$id/nas.json" ]; then logged "$log" nas resume "$id" --results "$r"
  else logged "$log" nas search --id "$id" --results "$r" "$@"; fi
}
# search_once ID ARGS...: done if its export exists, else search_or_resume
search_once() { if exported "$1"; then echo "$1: done"; else search_or_resume "$@"; fi; }

# train_or_resume OUT CMD...: CMD (a training into OUT), with --resume if OUT/config.json exists
train_or_resume() { local out=$1; shift; if [ -e "$out/config.json" ]; then "$@" --resume; else "$@"; fi; }
# train_once OUT CMD...: done if OUT/summary.json exists, else train_or_resume
train_once() { if [ -e "$1/summary.json" ]; then echo "$1: done"; else train_or_resume "$@"; fi; }
