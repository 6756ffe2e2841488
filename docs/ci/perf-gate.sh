#!/usr/bin/env bash
# The performance regression gate as a plain script (any CI, or by hand):
#   docs/ci/perf-gate.sh BASE_REF [CAND_REF]        e.g. docs/ci/perf-gate.sh origin/main HEAD
# Builds the benchmark jar of each git ref, runs the A/B mode (base and candidate forks alternated in one
# session), prints the gate's Markdown table on stdout and exits:
#   0 no regression, 1 regression, 2 error, 3 inconclusive (only if PERF_INCONCLUSIVE=fail; default: warn, exit 0).
# Environment (all optional):
#   PERF_WORK=DIR            scratch: checkouts, jars, JMH logs and results (default: a new temp dir)
#   PERF_AB_ARGS="..."       extra arguments for 'jmh/bench ab': --threshold 10%, --alpha 0.01, --budget 5m, --rounds N,
#                            --estimator fork-min, or a JMH selection (default: 6 Vector benchmarks, rounds for 5 minutes)
#   PERF_HISTORY=FILE.jsonl  append the candidate's results to this JSON-lines history ...
#   PERF_TRENDS=DIR          ... and draw one trend PNG per benchmark into DIR
#   PERF_INCONCLUSIVE=warn|fail
# Needs git, a JDK 25 (JAVA_HOME or /usr/lib/jvm) and Maven. Builds install the library snapshot into the Maven
# repository in use (set MAVEN_OPTS=-Dmaven.repo.local=... to keep it out of ~/.m2); each jar is shaded, so the
# second build does not change the first jar.
set -euo pipefail
[ $# -ge 1 ] || { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
base_ref="$1"; cand_ref="${2:-HEAD}"
repo="$(git rev-parse --show-toplevel)"
work="${PERF_WORK:-$(mktemp -d)}"; mkdir -p "$work"
log() { echo "perf-gate: $*" >&2; }

build_jar() { # REF NAME: checkout REF into $work/NAME, build, copy the benchmark jar to $work/NAME.jar
  local ref="$1" name="$2" src="$work/$2-src"
  rm -rf "$src"; mkdir -p "$src"
  git -C "$repo" archive "$(git -C "$repo" rev-parse --verify "$ref^{commit}")" | tar -x -C "$src"
  log "building $name ($ref = $(git -C "$repo" rev-parse --short "$ref"))"
  "$src/jmh/bench" build >"$work/$name-build.log" 2>&1 || { tail -30 "$work/$name-build.log" >&2; exit 2; }
  cp "$src/jmh/target/benchmarks.jar" "$work/$name.jar"
}

build_jar "$base_ref" base
build_jar "$cand_ref" cand

# The candidate's tools (compare, history) judge both jars; the base jar only has to be a JMH benchmark jar.
set +e
# shellcheck disable=SC2086  # PERF_AB_ARGS is word-split on purpose
"$work/cand-src/jmh/bench" ab "$work/base.jar" "$work/cand.jar" --out "$work/ab" ${PERF_AB_ARGS:-}
rc=$?
set -e
[ "$rc" -eq 2 ] && { log "the A/B run failed; JMH logs in $work/ab"; exit 2; }

if [ -n "${PERF_HISTORY:-}" ]; then
  java="$("$work/cand-src/vecnorm" java-home)/bin/java"
  tools=("$java" --add-modules jdk.incubator.vector -cp "$work/cand-src/jmh/target/benchmarks.jar" dev.vecnorm.bench.History)
  "${tools[@]}" append "$PERF_HISTORY" "$work/ab/cand.json" --label "$(git -C "$repo" rev-parse --short "$cand_ref")"
  [ -n "${PERF_TRENDS:-}" ] && "${tools[@]}" plot "$PERF_HISTORY" "$PERF_TRENDS"
fi

case "$rc" in
  0) log "pass" ;;
  1) log "FAIL: regression (table above; raw results in $work/ab)" ;;
  3) if [ "${PERF_INCONCLUSIVE:-warn}" = fail ]; then log "FAIL: inconclusive (see 'need N more samples' above)"
     else log "warning: some comparisons are inconclusive (see 'need N more samples'); not failing"; rc=0; fi ;;
esac
exit "$rc"
