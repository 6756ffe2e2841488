package dev.vecnorm.bench;

import dev.vecnorm.bench.Results.Result;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code compare BASELINE.json CANDIDATE.json [--threshold 10%] [--alpha 0.01] [--estimator samples|fork-min]}: the regression gate.
 *
 * <p>Benchmarks are paired by name and parameters and decided from the raw samples (every measurement
 * iteration of every fork), not from JMH's error bars:
 * <ul>
 *   <li>the change is the ratio of medians, in the "bigger is slower" sense (candidate / baseline for
 *       time per op, baseline / candidate for throughput), with a 99% percentile-bootstrap interval that
 *       resamples forks, then iterations within them (5000 resamples, seeded from the benchmark's name so
 *       the same files always give the same verdict);
 *   <li>significance is a two-sided Mann-Whitney U test, its p-values Holm-corrected across all compared
 *       benchmarks, so a 40-benchmark suite keeps a family-wise false-alarm rate of at most alpha; iterations of
 *       one fork are correlated (same JIT, layout and machine load), so the variance of U is multiplied by the
 *       forks' design effect 1 + (m - 1) ICC;
 *   <li>REGRESSION: the ratio above 1 + threshold, and either significant with the interval above 1, or the
 *       fork-level Welch t-test (each fork one sample, the log of its median; 3 or more forks a side) at
 *       alpha / k one-sided showing the ratio above 1 + threshold. IMPROVEMENT: the mirror image. SAME: the interval lies within [1 / (1 + threshold), 1 + threshold], or the
 *       change is significant but its ratio within them. Otherwise INCONCLUSIVE, with an estimate of how many
 *       more samples per side would decide it.
 * </ul>
 * With {@code --estimator fork-min} every fork is first reduced to its fastest iteration (its slowest for throughput
 * modes) and the same tests run on those, one sample per fork: interference from other processes only ever adds time,
 * so a fork's minimum tracks the code rather than the machine's load (Chen and Revels, "Robust benchmarking in noisy
 * environments", 2016), and forks, not iterations, are the independent units anyway.
 *
 * <p>Exit status: 0 no regression and every comparison decided, 1 at least one regression,
 * 3 no regression but at least one inconclusive comparison, 2 bad usage or unreadable input.
 */
public final class Compare {

  public static final int EXIT_REGRESSION = 1, EXIT_USAGE = 2, EXIT_INCONCLUSIVE = 3;
  static final int RESAMPLES = 5000;
  static final double LEVEL = 0.99;
  static final int STRICT_MIN_SAMPLES = 10, STRICT_MIN_FORKS = 3;

  public enum Verdict { REGRESSION, IMPROVEMENT, SAME, INCONCLUSIVE, MODE_MISMATCH, ONLY_BASELINE, ONLY_CANDIDATE }

  /**
   * What the samples say about one pair.
   *
   * @param ratio      ratio of medians, > 1 means the candidate is worse
   * @param lo         lower end of its 99% bootstrap interval
   * @param hi         upper end
   * @param p          two-sided Mann-Whitney p-value
   * @param pAdjusted  Holm-adjusted over all compared benchmarks
   * @param worseShare U / (n1 n2) oriented so that > 0.5 means candidate samples tend to be worse
   * @param deff       design effect of the forks (1: iterations behave as independent samples)
   * @param strictLo   lower end of the fork-level Welch interval of the ratio, one-sided alpha / k (k compared benchmarks)
   * @param strictHi   its upper end
   * @param minForks   the fewer forks of the two sides
   * @param more       estimated extra samples per side to decide an inconclusive pair (0 otherwise)
   */
  public record Stat(int nBaseline, int nCandidate, double ratio, double lo, double hi, double p, double pAdjusted,
                     double worseShare, double deff, double strictLo, double strictHi, int minForks, int more) {}

  public record Row(String key, Result baseline, Result candidate, Verdict verdict, Stat stat) {
    /** Ratio of medians in the "bigger is slower" sense: > 1 means the candidate is worse. */
    public double slowdown() {
      if (stat != null) return stat.ratio();
      if (baseline == null || candidate == null) return Double.NaN;
      return baseline.lowerIsBetter() ? candidate.score() / baseline.score() : baseline.score() / candidate.score();
    }
  }

  public static void main(String[] args) {
    System.exit(run(args, System.out, System.err));
  }

  /** How each side's samples enter the tests: every iteration, or each fork's best iteration. */
  public enum Estimator { SAMPLES, FORK_MIN }

  public static int run(String[] args, PrintStream out, PrintStream err) {
    double threshold = 0.10, alpha = 0.01;
    Estimator estimator = Estimator.SAMPLES;
    String base = null, cand = null;
    try {
      for (int i = 0; i < args.length; i++) {
        String a = args[i];
        if (a.equals("--threshold") || a.equals("--alpha")) {
          if (i + 1 >= args.length) throw new IllegalArgumentException(a + " needs a value such as " + (a.equals("--alpha") ? "0.01" : "10%"));
          if (a.equals("--alpha")) alpha = parseAlpha(args[++i]);
          else threshold = parseThreshold(args[++i]);
        } else if (a.startsWith("--threshold=")) {
          threshold = parseThreshold(a.substring("--threshold=".length()));
        } else if (a.startsWith("--alpha=")) {
          alpha = parseAlpha(a.substring("--alpha=".length()));
        } else if (a.equals("--estimator") || a.startsWith("--estimator=")) {
          if (a.equals("--estimator") && i + 1 >= args.length) throw new IllegalArgumentException("--estimator needs samples or fork-min");
          estimator = parseEstimator(a.equals("--estimator") ? args[++i] : a.substring("--estimator=".length()));
        } else if (base == null) {
          base = a;
        } else if (cand == null) {
          cand = a;
        } else {
          throw new IllegalArgumentException("unexpected argument " + a);
        }
      }
      if (cand == null) throw new IllegalArgumentException("usage: compare BASELINE.json CANDIDATE.json [--threshold 10%] [--alpha 0.01] [--estimator samples|fork-min]");
      List<Result> a = Results.load(Path.of(base)), b = Results.load(Path.of(cand));
      List<Row> rows = compare(reduce(a, estimator), reduce(b, estimator), threshold, alpha);
      print(rows, a, b, threshold, alpha, estimator, out);
      return exitCode(rows);
    } catch (IllegalArgumentException | java.io.IOException e) {
      err.println("compare: " + e.getMessage());
      return EXIT_USAGE;
    }
  }

  static int exitCode(List<Row> rows) {
    if (rows.stream().anyMatch(r -> r.verdict() == Verdict.REGRESSION)) return EXIT_REGRESSION;
    if (rows.stream().anyMatch(r -> r.verdict() == Verdict.INCONCLUSIVE)) return EXIT_INCONCLUSIVE;
    return 0;
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

  static Estimator parseEstimator(String s) {
    return switch (s.trim()) {
      case "samples" -> Estimator.SAMPLES;
      case "fork-min" -> Estimator.FORK_MIN;
      default -> throw new IllegalArgumentException("--estimator must be samples or fork-min, got " + s);
    };
  }

  /** The results as the tests see them: unchanged, or one sample per fork, its best iteration. */
  static List<Result> reduce(List<Result> results, Estimator estimator) {
    if (estimator == Estimator.SAMPLES) return results;
    List<Result> out = new ArrayList<>();
    for (Result r : results) out.add(forkBest(r));
    return out;
  }

  /** Each fork's fastest iteration (the largest score for throughput); unchanged when samples do not split into forks. */
  static Result forkBest(Result r) {
    int forks = r.forks(), n = r.samples().length;
    if (forks < 1 || n == 0 || n % forks != 0) return r;
    int per = n / forks;
    double[] best = new double[forks];
    for (int f = 0; f < forks; f++) {
      double b = r.samples()[f * per];
      for (int i = 1; i < per; i++) {
        double v = r.samples()[f * per + i];
        b = r.lowerIsBetter() ? Math.min(b, v) : Math.max(b, v);
      }
      best[f] = b;
    }
    return new Result(r.benchmark(), r.params(), r.mode(), r.score(), r.error(), r.unit(), r.jdk(), r.vm(), r.environment(), best, forks);
  }

  static double parseAlpha(String s) {
    try {
      double v = Double.parseDouble(s.trim());
      if (!(v > 0 && v < 1)) throw new NumberFormatException();
      return v;
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("--alpha must be a probability between 0 and 1 such as 0.01, got " + s);
    }
  }

  /** The comparison at the default significance level, alpha = 0.01. */
  public static List<Row> compare(List<Result> baseline, List<Result> candidate, double threshold) {
    return compare(baseline, candidate, threshold, 0.01);
  }

  public static List<Row> compare(List<Result> baseline, List<Result> candidate, double threshold, double alpha) {
    Map<String, Result> a = index(baseline), b = index(candidate);
    List<String> keys = new ArrayList<>(a.keySet());
    for (String k : b.keySet()) if (!a.containsKey(k)) keys.add(k);

    // First pass: the per-pair tests; the Holm correction needs every p-value of the family.
    Map<String, Stat> raw = new LinkedHashMap<>();
    for (String k : keys) {
      Result x = a.get(k), y = b.get(k);
      if (x == null || y == null || !x.mode().equals(y.mode()) || x.samples().length < 2 || y.samples().length < 2) continue;
      double[] ratios = bootstrap(k, x, y);
      raw.put(k, test(x, y, ratios));
    }
    double[] p = raw.values().stream().mapToDouble(Stat::p).toArray();
    double[] adjusted = Stats.holm(p);
    double perTest = alpha / Math.max(1, p.length); // Holm's first, strictest step: what an undecided pair must reach

    List<Row> rows = new ArrayList<>();
    int i = 0;
    Map<String, Stat> decided = new LinkedHashMap<>();
    for (var e : raw.entrySet()) {
      Stat s = e.getValue();
      Result x = a.get(e.getKey()), y = b.get(e.getKey());
      boolean lower = x.lowerIsBetter();
      Result worse = lower ? y : x, better = lower ? x : y;
      Stats.Interval strict = Stats.forkInterval(worse.samples(), worse.forks(), better.samples(), better.forks(), perTest);
      decided.put(e.getKey(), new Stat(s.nBaseline(), s.nCandidate(), s.ratio(), s.lo(), s.hi(), s.p(), adjusted[i++], s.worseShare(),
          s.deff(), strict == null ? Double.NaN : strict.lo(), strict == null ? Double.NaN : strict.hi(), s.minForks(), 0));
    }
    for (String k : keys) {
      Result x = a.get(k), y = b.get(k);
      if (x == null) {
        rows.add(new Row(k, null, y, Verdict.ONLY_CANDIDATE, null));
      } else if (y == null) {
        rows.add(new Row(k, x, null, Verdict.ONLY_BASELINE, null));
      } else if (!x.mode().equals(y.mode())) {
        rows.add(new Row(k, x, y, Verdict.MODE_MISMATCH, null));
      } else if (!decided.containsKey(k)) {
        rows.add(new Row(k, x, y, Verdict.INCONCLUSIVE, null)); // fewer than 2 raw samples on a side
      } else {
        Stat s = decided.get(k);
        Verdict v = verdict(s, threshold, alpha);
        if (v == Verdict.INCONCLUSIVE) s = withMore(s, threshold, perTest);
        rows.add(new Row(k, x, y, v, s));
      }
    }
    return rows;
  }

  private static Map<String, Result> index(List<Result> results) {
    Map<String, Result> m = new LinkedHashMap<>();
    for (Result r : results) m.put(r.key(), r);
    return m;
  }

  /** The fork-aware bootstrap distribution of the ratio of medians, "worse" over "better" (> 1: candidate slower). */
  static double[] bootstrap(String key, Result old, Result now) {
    boolean lower = old.lowerIsBetter();
    Result worse = lower ? now : old, better = lower ? old : now;
    // Seeded from the key (String.hashCode is specified), so a verdict is reproducible from the files alone.
    return Stats.bootstrapRatios(worse.samples(), worse.forks(), better.samples(), better.forks(), RESAMPLES, 0x5EEDL * 31 + key.hashCode());
  }

  /** Mann-Whitney (fork design effect applied) and the 99% interval for one pair, oriented so that "worse" is > 1 / > 0.5. */
  static Stat test(Result old, Result now, double[] ratios) {
    boolean lower = old.lowerIsBetter();
    double[] worse = lower ? now.samples() : old.samples(), better = lower ? old.samples() : now.samples();
    double deff = Stats.designEffect(worse, lower ? now.forks() : old.forks(), better, lower ? old.forks() : now.forks());
    Stats.MannWhitney mw = Stats.mannWhitney(worse, better, deff);
    double ratio = Stats.median(worse) / Stats.median(better), tail = (1 - LEVEL) / 2;
    return new Stat(old.samples().length, now.samples().length, ratio, Stats.sortedQuantile(ratios, tail),
        Stats.sortedQuantile(ratios, 1 - tail), mw.p(), mw.p(), mw.u() / ((double) worse.length * better.length), deff,
        Double.NaN, Double.NaN, Math.min(old.forks(), now.forks()), 0);
  }

  static Verdict verdict(Stat s, double threshold, double alpha) {
    double bandHi = 1 + threshold, bandLo = 1 / (1 + threshold);
    boolean significant = s.pAdjusted() < alpha;
    // The rank test treats iterations as independent; the fork-aware interval must also exclude "no change",
    // so that two forks that happened to meet different machine load cannot raise an alarm on their own.
    // Either path suffices: the rank test (fork design effect applied, Holm-corrected) with the interval above 1,
    // or the size path: one fork = one sample (log of its median), Welch's t at a Bonferroni level alpha / k
    // shows the ratio beyond the threshold. Rank tests cap the evidence of complete separation; the size path
    // lets a 5x slowdown in 4 forks a side decide, with fork noise fully counted.
    // Simulated with the bootstrap's alpha / k quantile as size path: 5 false alarms in 40 same-code 12-benchmark
    // suites at 10% fork-to-fork spread (4 forks a side); a percentile bootstrap over 4 forks underestimates their
    // spread. Welch needs STRICT_MIN_FORKS a side to have any power at that level.
    // One sample per fork (fork-min) is already the fork-level unit: forks alone must suffice there.
    int n = Math.min(s.nBaseline(), s.nCandidate());
    boolean enough = (n >= STRICT_MIN_SAMPLES || n == s.minForks()) && s.minForks() >= STRICT_MIN_FORKS;
    if (s.ratio() > bandHi && s.worseShare() > 0.5 && ((significant && s.lo() > 1) || (enough && s.strictLo() > bandHi))) return Verdict.REGRESSION;
    if (s.ratio() < bandLo && s.worseShare() < 0.5 && ((significant && s.hi() < 1) || (enough && s.strictHi() < bandLo))) return Verdict.IMPROVEMENT;
    boolean inside = s.ratio() >= bandLo && s.ratio() <= bandHi;
    if (inside && (significant || (s.lo() >= bandLo && s.hi() <= bandHi))) return Verdict.SAME;
    return Verdict.INCONCLUSIVE;
  }

  /** How many more samples per side: enough for significance if the change is beyond the threshold, else to narrow the interval. */
  static Stat withMore(Stat s, double threshold, double perTest) {
    int n = Math.min(s.nBaseline(), s.nCandidate());
    double bandHi = 1 + threshold, bandLo = 1 / (1 + threshold);
    int total;
    if (s.ratio() > bandHi || s.ratio() < bandLo) {
      // Significance (forks make samples count less), and the fork-aware interval clear of 1 on the change's side.
      int forSignificance = (int) Math.min(Stats.MORE_CAP, Math.ceil(s.deff() * Stats.samplesForSignificance(s.worseShare(), perTest)));
      int forInterval = s.ratio() > 1
          ? Stats.samplesForInterval(n, s.ratio(), s.lo(), s.hi(), 1, Double.POSITIVE_INFINITY)
          : Stats.samplesForInterval(n, s.ratio(), s.lo(), s.hi(), 0, 1);
      total = Math.max(forSignificance, forInterval);
    } else {
      total = Stats.samplesForInterval(n, s.ratio(), s.lo(), s.hi(), bandLo, bandHi);
    }
    int more = Math.max(total - n, Math.max(1, n / 2)); // the estimate is rough: never suggest a token amount
    return new Stat(s.nBaseline(), s.nCandidate(), s.ratio(), s.lo(), s.hi(), s.p(), s.pAdjusted(), s.worseShare(),
        s.deff(), s.strictLo(), s.strictHi(), s.minForks(), Math.min(more, Stats.MORE_CAP));
  }

  static void print(List<Row> rows, List<Result> a, List<Result> b, double threshold, double alpha, PrintStream out) {
    print(rows, a, b, threshold, alpha, Estimator.SAMPLES, out);
  }

  static void print(List<Row> rows, List<Result> a, List<Result> b, double threshold, double alpha, Estimator estimator, PrintStream out) {
    out.println("baseline:  " + describe(a) + samplesLine(a));
    out.println("candidate: " + describe(b) + samplesLine(b));
    if (estimator == Estimator.FORK_MIN) out.println("estimator: each fork's best iteration, one sample per fork (medians below are of those)");
    String jdkA = a.isEmpty() ? "" : a.get(0).jdk(), jdkB = b.isEmpty() ? "" : b.get(0).jdk();
    if (!jdkA.equals(jdkB)) out.println("note: cross-JDK comparison (" + jdkA + " vs " + jdkB + ")");
    if (!cpu(a).equals(cpu(b))) out.println("note: cross-machine comparison (" + cpu(a) + " vs " + cpu(b) + ")");
    long k = rows.stream().filter(r -> r.stat() != null).count();
    out.printf(Locale.ROOT, "gate: regression = ratio of medians > %.3f and either Mann-Whitney p < %s (Holm over %d benchmarks, forks'"
        + " design effect applied) with the 99%% interval above 1, or (3+ forks a side) a Welch t-test on fork medians, one-sided"
        + " at %s, of ratio > %.3f. The 99%% interval resamples forks, then iterations%n%n", 1 + threshold, fmtP(alpha), k,
        fmtP(alpha / Math.max(1, k)), 1 + threshold);
    out.println("| benchmark | baseline median | candidate median | ratio [99% CI] | p (Holm) | verdict |");
    out.println("| --- | ---: | ---: | ---: | ---: | --- |");
    int regressions = 0, inconclusive = 0;
    for (Row r : rows) {
      if (r.verdict() == Verdict.REGRESSION) regressions++;
      if (r.verdict() == Verdict.INCONCLUSIVE) inconclusive++;
      Stat s = r.stat();
      out.printf(Locale.ROOT, "| %s | %s | %s | %s | %s | %s |%n", r.key(), fmt(r.baseline()), fmt(r.candidate()),
          s != null ? String.format(Locale.ROOT, "%.3f [%.3f, %.3f]", s.ratio(), s.lo(), s.hi())
              : Double.isNaN(r.slowdown()) ? "-" : String.format(Locale.ROOT, "%.3f", r.slowdown()),
          s != null ? fmtP(s.pAdjusted()) : "-", label(r));
    }
    out.println();
    Map<String, Result> rawA = index(a), rawB = index(b); // the iterations, also when the tests saw one sample per fork
    for (Row r : rows) {
      for (Result res : new Result[] {rawA.get(r.key()), rawB.get(r.key())}) {
        double[] drift = res == null ? new double[0] : warmupDrifts(res);
        int warming = 0;
        double worst = 1;
        for (double d : drift) if (d > WARMUP_DRIFT) { warming++; worst = Math.max(worst, d); }
        // A quarter of the forks or more: the preset's warm-up is too short. One fork in twenty met a load spike.
        if (warming > 0 && 4 * warming >= drift.length) {
          out.printf(Locale.ROOT, "warning: %s, %s: warm-up not over in %d of %d forks, their first iterations up to %.1fx slower than"
              + " their last (raise -wi/-w; the verdict includes them)%n", r.key(), res == rawA.get(r.key()) ? "baseline" : "candidate",
              warming, drift.length, worst);
        }
      }
    }
    List<String> summary = new ArrayList<>();
    summary.add(regressions == 0 ? "no regression" : regressions + " regression(s)");
    if (inconclusive > 0) summary.add(inconclusive + " inconclusive (exit " + EXIT_INCONCLUSIVE + " unless a regression was found)");
    out.println(String.join("; ", summary));
  }

  /** A fork whose first half is this much slower than its second half was still warming up (JIT, caches, heap growth). */
  static final double WARMUP_DRIFT = 1.3;

  /**
   * Each fork's ratio of the median of the first half of its iterations to that of the second half, in the "bigger is
   * slower" sense; empty when unknown. JMH forks have equal iteration counts, so samples split evenly by fork.
   */
  static double[] warmupDrifts(Result r) {
    int forks = r.forks(), n = r.samples().length;
    if (forks < 1 || n % forks != 0 || n / forks < 4) return new double[0];
    int per = n / forks, half = per / 2;
    double[] out = new double[forks];
    for (int f = 0; f < forks; f++) {
      double first = Stats.median(java.util.Arrays.copyOfRange(r.samples(), f * per, f * per + half));
      double last = Stats.median(java.util.Arrays.copyOfRange(r.samples(), f * per + per - half, f * per + per));
      out[f] = r.lowerIsBetter() ? first / last : last / first;
    }
    return out;
  }

  private static String samplesLine(List<Result> rs) {
    if (rs.isEmpty()) return "";
    Result r = rs.get(0);
    return r.forks() > 0 ? String.format(Locale.ROOT, "; %d samples from %d fork(s) per benchmark", r.samples().length, r.forks()) : "";
  }

  static String fmtP(double p) {
    return p < 1e-4 ? String.format(Locale.ROOT, "%.1e", p) : String.format(Locale.ROOT, "%.4f", p);
  }

  static String label(Row r) {
    return switch (r.verdict()) {
      case REGRESSION -> "REGRESSION";
      case IMPROVEMENT -> "improvement";
      case SAME -> "same (within threshold)";
      case INCONCLUSIVE -> r.stat() == null ? "inconclusive: fewer than 2 raw samples on a side" : inconclusiveLabel(r);
      case MODE_MISMATCH -> "not compared: modes differ";
      case ONLY_BASELINE -> "only in baseline";
      case ONLY_CANDIDATE -> "only in candidate";
    };
  }

  private static String inconclusiveLabel(Row r) {
    int more = r.stat().more();
    if (more >= Stats.MORE_CAP) return "inconclusive: the change is too close to the threshold to decide";
    int forks = Math.max(1, Math.min(r.baseline().forks(), r.candidate().forks()));
    int perFork = Math.max(1, Math.min(r.stat().nBaseline(), r.stat().nCandidate()) / forks);
    return String.format(Locale.ROOT, "inconclusive: need %d more samples per side (~%d more fork(s) of %d iterations)",
        more, (more + perFork - 1) / perFork, perFork);
  }

  private static String fmt(Result r) {
    if (r == null) return "-";
    double m = r.samples().length > 0 ? Stats.median(r.samples()) : r.score();
    return String.format(Locale.ROOT, "%.4g %s (%s)", m, r.unit(), r.mode());
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
