package dev.vecnorm.bench;

import dev.vecnorm.bench.Results.Result;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code compare BASELINE.json CANDIDATE.json [--threshold 10%]}: pairs benchmarks by name and
 * parameters and flags a regression when the candidate is worse than the baseline by more than the
 * threshold <em>and</em> the two runs' error intervals (score ± JMH's 99.9% error) do not overlap.
 * Exit status: 0 no regression, 1 regression, 2 bad usage or unreadable input.
 */
public final class Compare {

  public enum Verdict { REGRESSION, IMPROVEMENT, SAME, NOISE, MODE_MISMATCH, ONLY_BASELINE, ONLY_CANDIDATE }

  public record Row(String key, Result baseline, Result candidate, Verdict verdict) {
    /** candidate / baseline in the "bigger is slower" sense: > 1 means the candidate is worse. */
    public double slowdown() {
      if (baseline == null || candidate == null) return Double.NaN;
      return baseline.lowerIsBetter() ? candidate.score() / baseline.score() : baseline.score() / candidate.score();
    }
  }

  public static void main(String[] args) {
    System.exit(run(args, System.out, System.err));
  }

  public static int run(String[] args, PrintStream out, PrintStream err) {
    double threshold = 0.10;
    String base = null, cand = null;
    try {
      for (int i = 0; i < args.length; i++) {
        if (args[i].equals("--threshold")) {
          if (i + 1 >= args.length) throw new IllegalArgumentException("--threshold needs a value such as 10%");
          threshold = parseThreshold(args[++i]);
        } else if (args[i].startsWith("--threshold=")) {
          threshold = parseThreshold(args[i].substring("--threshold=".length()));
        } else if (base == null) {
          base = args[i];
        } else if (cand == null) {
          cand = args[i];
        } else {
          throw new IllegalArgumentException("unexpected argument " + args[i]);
        }
      }
      if (cand == null) throw new IllegalArgumentException("usage: compare BASELINE.json CANDIDATE.json [--threshold 10%]");
      List<Result> a = Results.load(Path.of(base)), b = Results.load(Path.of(cand));
      List<Row> rows = compare(a, b, threshold);
      print(rows, a, b, threshold, out);
      return rows.stream().anyMatch(r -> r.verdict() == Verdict.REGRESSION) ? 1 : 0;
    } catch (IllegalArgumentException | java.io.IOException e) {
      err.println("compare: " + e.getMessage());
      return 2;
    }
  }

  static double parseThreshold(String s) {
    String t = s.trim();
    try {
      double v = t.endsWith("%") ? Double.parseDouble(t.substring(0, t.length() - 1)) / 100 : Double.parseDouble(t);
      if (!(v >= 0) || Double.isInfinite(v)) throw new NumberFormatException();
      return v;
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("--threshold must be a non-negative number or percentage such as 10% or 0.1, got " + s);
    }
  }

  public static List<Row> compare(List<Result> baseline, List<Result> candidate, double threshold) {
    Map<String, Result> a = index(baseline), b = index(candidate);
    Map<String, Row> rows = new LinkedHashMap<>();
    for (var e : a.entrySet()) {
      Result cand = b.get(e.getKey());
      rows.put(e.getKey(), new Row(e.getKey(), e.getValue(), cand, cand == null ? Verdict.ONLY_BASELINE : verdict(e.getValue(), cand, threshold)));
    }
    for (var e : b.entrySet()) {
      if (!a.containsKey(e.getKey())) rows.put(e.getKey(), new Row(e.getKey(), null, e.getValue(), Verdict.ONLY_CANDIDATE));
    }
    return List.copyOf(rows.values());
  }

  private static Map<String, Result> index(List<Result> results) {
    Map<String, Result> m = new LinkedHashMap<>();
    for (Result r : results) m.put(r.key(), r);
    return m;
  }

  static Verdict verdict(Result old, Result now, double threshold) {
    if (!old.mode().equals(now.mode())) return Verdict.MODE_MISMATCH;
    boolean lower = old.lowerIsBetter();
    double worse = lower ? now.score() / old.score() - 1 : old.score() / now.score() - 1;
    // Error intervals disjoint, in the direction of the change.
    boolean separated = now.score() > old.score()
        ? now.score() - now.error() > old.score() + old.error()
        : now.score() + now.error() < old.score() - old.error();
    if (Math.abs(worse) <= threshold) return Verdict.SAME;
    if (!separated) return Verdict.NOISE;
    return worse > 0 ? Verdict.REGRESSION : Verdict.IMPROVEMENT;
  }

  static void print(List<Row> rows, List<Result> a, List<Result> b, double threshold, PrintStream out) {
    String envA = describe(a), envB = describe(b);
    out.println("baseline:  " + envA);
    out.println("candidate: " + envB);
    String jdkA = a.isEmpty() ? "" : a.get(0).jdk(), jdkB = b.isEmpty() ? "" : b.get(0).jdk();
    if (!jdkA.equals(jdkB)) out.println("note: cross-JDK comparison (" + jdkA + " vs " + jdkB + ")");
    if (!cpu(a).equals(cpu(b))) out.println("note: cross-machine comparison (" + cpu(a) + " vs " + cpu(b) + ")");
    out.printf(Locale.ROOT, "threshold: %.1f%% and disjoint error intervals%n%n", threshold * 100);
    out.println("| benchmark | baseline | candidate | ratio | verdict |");
    out.println("| --- | ---: | ---: | ---: | --- |");
    int regressions = 0;
    for (Row r : rows) {
      if (r.verdict() == Verdict.REGRESSION) regressions++;
      out.printf(Locale.ROOT, "| %s | %s | %s | %s | %s |%n", r.key(), fmt(r.baseline()), fmt(r.candidate()),
          Double.isNaN(r.slowdown()) ? "-" : String.format(Locale.ROOT, "%.3f", r.slowdown()), label(r.verdict()));
    }
    out.println();
    out.println(regressions == 0 ? "no regression" : regressions + " regression(s)");
  }

  private static String label(Verdict v) {
    return switch (v) {
      case REGRESSION -> "REGRESSION";
      case IMPROVEMENT -> "improvement";
      case SAME -> "same (within threshold)";
      case NOISE -> "noise (error bars overlap)";
      case MODE_MISMATCH -> "not compared: modes differ";
      case ONLY_BASELINE -> "only in baseline";
      case ONLY_CANDIDATE -> "only in candidate";
    };
  }

  private static String fmt(Result r) {
    if (r == null) return "-";
    return String.format(Locale.ROOT, "%.4g ± %.2g %s (%s)", r.score(), r.error(), r.unit(), r.mode());
  }

  static String describe(List<Result> rs) {
    if (rs.isEmpty()) return "(empty)";
    Result r = rs.get(0);
    return "JDK " + r.jdk() + ", " + r.vm() + ", " + cpu(rs);
  }

  static String cpu(List<Result> rs) {
    if (rs.isEmpty() || rs.get(0).environment().isEmpty()) return "CPU not recorded";
    Map<String, Object> env = rs.get(0).environment();
    return env.get("cpu") + ", " + env.get("vectorBits") + "-bit vectors (" + env.get("floatLanes") + " float lanes), ISA " + env.get("isa");
  }
}
