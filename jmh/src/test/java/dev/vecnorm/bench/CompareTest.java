package dev.vecnorm.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vecnorm.bench.Compare.Verdict;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The regression gate users put in CI: every verdict from raw samples, exit codes, and bad input. */
class CompareTest {

  @TempDir Path dir;

  /** A JMH JSON entry whose rawData holds the given forks' iteration scores; score and error as JMH would print them. */
  static String entry(String name, String shape, String mode, String unit, String jdk, double[]... forks) {
    double sum = 0;
    int n = 0;
    StringBuilder raw = new StringBuilder("[");
    for (double[] f : forks) {
      if (raw.length() > 1) raw.append(',');
      raw.append(java.util.Arrays.toString(f));
      for (double v : f) { sum += v; n++; }
    }
    raw.append(']');
    return """
        {"jmhVersion":"1.37","benchmark":"%s","mode":"%s","threads":1,"forks":%d,"jdkVersion":"%s",
         "vmName":"OpenJDK 64-Bit Server VM","vmVersion":"%s-LTS","params":{"shape":"%s"},
         "primaryMetric":{"score":%s,"scoreError":1.0,"scoreConfidence":[0,0],"scoreUnit":"%s","rawData":%s},
         "secondaryMetrics":{}}""".formatted(name, mode, forks.length, jdk, jdk, shape, sum / n, unit, raw);
  }

  /** n samples around {@code center}, a deterministic spread of +-{@code spread} (relative), 2 forks. */
  static double[][] around(double center, double spread, int n, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    double[][] forks = new double[2][n / 2];
    for (double[] f : forks) for (int i = 0; i < f.length; i++) f[i] = center * (1 + spread * (2 * r.nextDouble() - 1));
    return forks;
  }

  static String entry(String name, String shape, String mode, String unit, double center, double spread, int n, long seed) {
    return entry(name, shape, mode, unit, "25.0.3", around(center, spread, n, seed));
  }

  Path file(String name, String... entries) throws IOException {
    Path p = dir.resolve(name);
    Files.writeString(p, "[" + String.join(",", entries) + "]");
    return p;
  }

  record Run(int exit, String out, String err) {}

  Run run(String... args) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
    int code = Compare.run(args, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
    return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
  }

  Verdict verdictOf(Path base, Path cand, double threshold) throws IOException {
    List<Compare.Row> rows = Compare.compare(Results.load(base), Results.load(cand), threshold);
    assertEquals(1, rows.size());
    return rows.get(0).verdict();
  }

  static final String B = "dev.vecnorm.bench.Vector.backward";

  @Test
  void identicalSamplesAreTheSame() throws IOException {
    String e = entry(B, "NC:256x1024", "avgt", "us/op", 100, 0.05, 20, 1);
    Path base = file("a.json", e), cand = file("b.json", e);
    assertEquals(Verdict.SAME, verdictOf(base, cand, 0.10));
    Run r = run(base.toString(), cand.toString());
    assertEquals(0, r.exit(), r.out());
    // Each side is resampled on its own, so even identical data gets an interval of resampling width around 1.
    assertTrue(r.out().contains("| 1.000 [0.9") && r.out().contains("| 1.0000 | same (within threshold)"), r.out());
  }

  @Test
  void twiceAsSlowWithTightSpreadIsARegressionAndFailsTheGate() throws IOException {
    Path base = file("a.json", entry(B, "NC:256x1024", "avgt", "us/op", 100, 0.03, 20, 1));
    Path cand = file("b.json", entry(B, "NC:256x1024", "avgt", "us/op", 200, 0.03, 20, 2));
    assertEquals(Verdict.REGRESSION, verdictOf(base, cand, 0.10));
    Run r = run(base.toString(), cand.toString(), "--threshold", "10%");
    assertEquals(Compare.EXIT_REGRESSION, r.exit(), r.out() + r.err());
    assertTrue(r.out().contains("REGRESSION") && r.out().contains("1 regression(s)"), r.out());
    Compare.Row row = Compare.compare(Results.load(base), Results.load(cand), 0.10).get(0);
    assertTrue(row.stat().lo() > 1.85 && row.stat().hi() < 2.15 && Math.abs(row.slowdown() - 2) < 0.1, row.toString());
  }

  @Test
  void theIssuesCaseEveryCandidateSample25PercentSlowerIsFlaggedFromThreeSamplesPerForkTimesTwoForks() throws IOException {
    // Disjoint samples, 1.25x apart; the old gate (error bars of 3 samples) called such cases noise.
    Path base = file("a.json", entry(B, "NC:256x1024", "avgt", "us/op", "25.0.3", new double[] {98, 101, 103, 99, 100}, new double[] {102, 97, 100, 101, 99}));
    Path cand = file("b.json", entry(B, "NC:256x1024", "avgt", "us/op", "25.0.3", new double[] {130, 126, 140, 128, 133}, new double[] {131, 129, 127, 135, 138}));
    assertEquals(Verdict.REGRESSION, verdictOf(base, cand, 0.10));
  }

  @Test
  void fivePercentSlowerWithTenPercentThresholdIsNotARegression() throws IOException {
    Path base = file("a.json", entry(B, "NC:256x1024", "avgt", "us/op", 100, 0.01, 20, 1));
    Path cand = file("b.json", entry(B, "NC:256x1024", "avgt", "us/op", 105, 0.01, 20, 2));
    assertEquals(Verdict.SAME, verdictOf(base, cand, 0.10));
    assertEquals(0, run(base.toString(), cand.toString(), "--threshold=10%").exit());
    // The same data against a 2% threshold: real and beyond it.
    assertEquals(Verdict.REGRESSION, verdictOf(base, cand, 0.02));
  }

  @Test
  void heavyOverlapWithFewSamplesIsInconclusiveWithItsOwnExitCode() throws IOException {
    Path base = file("a.json", entry(B, "NC:256x1024", "avgt", "us/op", "25.0.3", new double[] {80, 100, 120}));
    Path cand = file("b.json", entry(B, "NC:256x1024", "avgt", "us/op", "25.0.3", new double[] {95, 125, 150}));
    assertEquals(Verdict.INCONCLUSIVE, verdictOf(base, cand, 0.10));
    Run r = run(base.toString(), cand.toString());
    assertEquals(Compare.EXIT_INCONCLUSIVE, r.exit(), r.out());
    assertTrue(r.out().matches("(?s).*inconclusive: need \\d+ more samples per side.*"), r.out());
    assertFalse(r.out().toLowerCase(java.util.Locale.ROOT).contains("noise"), r.out());
  }

  @Test
  void completelySeparatedButOnlyThreeSamplesIsInconclusiveNotNoise() throws IOException {
    // The smallest two-sided p with 3 + 3 samples is 0.1: no rank test can decide at alpha 0.01.
    Path base = file("a.json", entry(B, "NC:256x1024", "avgt", "us/op", "25.0.3", new double[] {100, 101, 102}));
    Path cand = file("b.json", entry(B, "NC:256x1024", "avgt", "us/op", "25.0.3", new double[] {150, 151, 152}));
    List<Compare.Row> rows = Compare.compare(Results.load(base), Results.load(cand), 0.10);
    assertEquals(Verdict.INCONCLUSIVE, rows.get(0).verdict());
    // Noether: (z_{0.995} + z_{0.8})^2 / 0.75 / 2 = 7.8 -> 8 per side, i.e. 5 more.
    assertEquals(5, rows.get(0).stat().more());
  }

  @Test
  void fortySameCodeBenchmarksRaiseNoFalseAlarmAndOneRealRegressionAmongThemIsFound() throws IOException {
    // Noisy (+-15%) but unchanged: with 40 tests at alpha 0.01 uncorrected, a false alarm would be likely.
    String[] a = new String[40], b = new String[40];
    for (int i = 0; i < 40; i++) {
      a[i] = entry(B, "NC:" + (i + 1) + "x64", "avgt", "us/op", 100, 0.15, 20, 1000 + i);
      b[i] = entry(B, "NC:" + (i + 1) + "x64", "avgt", "us/op", 100, 0.15, 20, 2000 + i);
    }
    List<Compare.Row> rows = Compare.compare(Results.load(file("a.json", a)), Results.load(file("b.json", b)), 0.10);
    assertEquals(0, rows.stream().filter(r -> r.verdict() == Verdict.REGRESSION).count());
    b[7] = entry(B, "NC:8x64", "avgt", "us/op", 150, 0.05, 20, 7);
    rows = Compare.compare(Results.load(file("a.json", a)), Results.load(file("c.json", b)), 0.10);
    assertEquals(List.of("dev.vecnorm.bench.Vector.backward{shape=NC:8x64}"),
        rows.stream().filter(r -> r.verdict() == Verdict.REGRESSION).map(Compare.Row::key).toList());
  }

  @Test
  void simulatedFalseAlarmRateStaysBelowAlpha() {
    // 100 same-distribution comparisons of 20 vs 20 samples with 10% spread; threshold 0 leaves only the test.
    SplittableRandom r = new SplittableRandom(11);
    int alarms = 0;
    for (int t = 0; t < 100; t++) {
      double[] x = StatsTest.normal(r, 20, 100, 10), y = StatsTest.normal(r, 20, 100, 10);
      Results.Result a = result(x), b = result(y);
      if (Compare.compare(List.of(a), List.of(b), 0.0).get(0).verdict() == Verdict.REGRESSION) alarms++;
    }
    // Expected 100 * 0.005 = 0.5 one-sided alarms; P(more than 3) under Binomial(100, 0.005) is below 0.2%.
    assertTrue(alarms <= 3, "expected about 0.5 one-sided alarms, got " + alarms);
  }

  static Results.Result result(double[] samples) {
    return new Results.Result(B, java.util.Map.of(), "avgt", Stats.median(samples), 0, "ns/op", "25", "vm", java.util.Map.of(), samples, 1);
  }

  @Test
  void fasterBeyondThresholdIsAnImprovementAndPasses() throws IOException {
    Path base = file("a.json", entry(B, "NC:256x1024", "avgt", "us/op", 100, 0.02, 20, 1));
    Path cand = file("b.json", entry(B, "NC:256x1024", "avgt", "us/op", 70, 0.02, 20, 2));
    assertEquals(Verdict.IMPROVEMENT, verdictOf(base, cand, 0.10));
    assertEquals(0, run(base.toString(), cand.toString()).exit());
  }

  @Test
  void throughputModeTreatsHigherAsBetter() throws IOException {
    Path base = file("a.json", entry(B, "NC:256x1024", "thrpt", "ops/s", 1000, 0.02, 20, 1));
    Path cand = file("b.json", entry(B, "NC:256x1024", "thrpt", "ops/s", 700, 0.02, 20, 2));
    assertEquals(Verdict.REGRESSION, verdictOf(base, cand, 0.10));
    assertEquals(Verdict.IMPROVEMENT, verdictOf(cand, base, 0.10));
    Compare.Row row = Compare.compare(Results.load(base), Results.load(cand), 0.10).get(0);
    assertEquals(1000.0 / 700, row.slowdown(), 0.05);
  }

  @Test
  void unitsAreNormalizedBeforeComparing() throws IOException {
    Path base = file("a.json", entry(B, "NC:256x1024", "avgt", "ms/op", 1.0, 0.01, 20, 1));
    Path cand = file("b.json", entry(B, "NC:256x1024", "avgt", "us/op", 1000, 0.01, 20, 2));
    assertEquals(Verdict.SAME, verdictOf(base, cand, 0.05));
    assertEquals(1e6, Results.load(base).get(0).samples()[0], 1e4); // ns
  }

  @Test
  void mixedModesAreReportedNotCompared() throws IOException {
    Path base = file("a.json", entry(B, "NC:256x1024", "avgt", "us/op", 100, 0.01, 20, 1));
    Path cand = file("b.json", entry(B, "NC:256x1024", "thrpt", "ops/s", 5000, 0.01, 20, 1));
    assertEquals(Verdict.MODE_MISMATCH, verdictOf(base, cand, 0.10));
    Run r = run(base.toString(), cand.toString());
    assertEquals(0, r.exit());
    assertTrue(r.out().contains("modes differ"), r.out());
  }

  @Test
  void benchmarksPresentInOnlyOneFileAreListedAndPairingUsesParameters() throws IOException {
    double[] s = {100, 100.5, 99.5, 100.2};
    Path base = file("a.json", entry(B, "NC:256x1024", "avgt", "us/op", "25.0.3", s),
        entry(B, "NC:8192x256", "avgt", "us/op", "25.0.3", s));
    Path cand = file("b.json", entry(B, "NC:256x1024", "avgt", "us/op", "26", s),
        entry(B, "NHWC:7x13x13x17", "avgt", "us/op", "26", s));
    List<Compare.Row> rows = Compare.compare(Results.load(base), Results.load(cand), 0.1);
    assertEquals(List.of(Verdict.SAME, Verdict.ONLY_BASELINE, Verdict.ONLY_CANDIDATE), rows.stream().map(Compare.Row::verdict).toList());
    Run r = run(base.toString(), cand.toString());
    assertEquals(0, r.exit());
    assertTrue(r.out().contains("only in baseline") && r.out().contains("only in candidate"), r.out());
    assertTrue(r.out().contains("cross-JDK comparison (25.0.3 vs 26)"), r.out());
  }

  @Test
  void resultsWithoutRawSamplesAreInconclusive() throws IOException {
    String noRaw = """
        [{"benchmark":"%s","mode":"avgt","jdkVersion":"25","params":{"shape":"NC:1x1"},
          "primaryMetric":{"score":100,"scoreError":1,"scoreUnit":"us/op"}}]""".formatted(B);
    Path a = dir.resolve("a.json");
    Files.writeString(a, noRaw);
    Run r = run(a.toString(), a.toString());
    assertEquals(Compare.EXIT_INCONCLUSIVE, r.exit(), r.out());
    assertTrue(r.out().contains("fewer than 2 raw samples"), r.out());
  }

  @Test
  void oneFastAndOneSlowCandidateForkIsNotEnoughForAnAlarm() throws IOException {
    // Each fork is tight, so the rank test over iterations is very significant; but one candidate fork matches
    // the baseline: a fork that met a busier machine would look exactly like this. The interval resamples forks.
    double[] at100 = {100, 101, 99, 100, 100.5, 99.5, 100, 101, 99, 100};
    double[] at150 = {150, 151, 149, 150, 150.5, 149.5, 150, 151, 149, 150};
    Path base = file("a.json", entry(B, "NC:256x1024", "avgt", "us/op", "25.0.3", at100, at100));
    Path cand = file("b.json", entry(B, "NC:256x1024", "avgt", "us/op", "25.0.3", at100, at150));
    Compare.Row row = Compare.compare(Results.load(base), Results.load(cand), 0.10).get(0);
    // Iterations alone: p = 2e-4 (normal approximation, 20 vs 20, the 10 slow ones all above). The forks' design
    // effect is close to 10 (the fork explains nearly all the variance), so the test counts about 2 samples a side.
    assertTrue(row.stat().deff() > 9 && row.stat().pAdjusted() > 0.01 && row.stat().lo() <= 1.0, row.toString());
    assertEquals(Verdict.INCONCLUSIVE, row.verdict());
    // Both candidate forks slower: a regression.
    cand = file("c.json", entry(B, "NC:256x1024", "avgt", "us/op", "25.0.3", at150, at150));
    assertEquals(Verdict.REGRESSION, verdictOf(base, cand, 0.10));
  }

  @Test
  void aHugeSlowdownIsFlaggedEvenWhenForksDisagree() throws IOException {
    // Forced-scalar-like: 5x slower, but forks of each side differ by 30% (a busy machine). The rank test over
    // forks cannot reach significance with 4 forks a side; the size of the change decides.
    double[] f100 = {100, 102, 98, 101, 99, 100, 103, 97, 100, 101};
    double[] f130 = {130, 132, 128, 131, 129, 130, 133, 127, 130, 131};
    double[] f500 = {500, 510, 490, 505, 495, 500, 515, 485, 500, 505};
    double[] f650 = {650, 660, 640, 655, 645, 650, 665, 635, 650, 655};
    Path base = file("a.json", entry(B, "NC:256x1024", "avgt", "us/op", "25.0.3", f100, f130, f130, f100));
    Path cand = file("b.json", entry(B, "NC:256x1024", "avgt", "us/op", "25.0.3", f500, f650, f500, f650));
    Compare.Row row = Compare.compare(Results.load(base), Results.load(cand), 0.10).get(0);
    assertTrue(row.stat().pAdjusted() > 0.01 && row.stat().strictLo() > 3, row.toString());
    assertEquals(Verdict.REGRESSION, row.verdict());
    // The same with two forks a side: two forks cannot show how much forks vary, so only the rank test may decide.
    base = file("c.json", entry(B, "NC:256x1024", "avgt", "us/op", "25.0.3", f100, f130));
    cand = file("d.json", entry(B, "NC:256x1024", "avgt", "us/op", "25.0.3", f500, f650));
    assertEquals(Verdict.INCONCLUSIVE, verdictOf(base, cand, 0.10));
  }

  @Test
  void forksStillWarmingUpAreFlagged() throws IOException {
    double[] steady = {100, 101, 99, 100, 102, 98, 100, 101};
    double[] warming = {400, 300, 200, 100, 101, 99, 100, 100}; // first half median 250, second 100
    Path base = file("a.json", entry(B, "NC:256x1024", "avgt", "us/op", "25.0.3", steady, steady));
    Path cand = file("b.json", entry(B, "NC:256x1024", "avgt", "us/op", "25.0.3", steady, warming));
    Run r = run(base.toString(), cand.toString());
    assertTrue(r.out().contains("candidate: warm-up not over in 1 of 2 forks, their first iterations up to 2.5x slower"), r.out());
    assertFalse(run(base.toString(), base.toString()).out().contains("warm-up"));
    // One fork in five that met a load spike early is not a warm-up problem of the preset.
    cand = file("c.json", entry(B, "NC:256x1024", "avgt", "us/op", "25.0.3", steady, steady, steady, steady, warming));
    assertFalse(run(base.toString(), cand.toString()).out().contains("warm-up"));
  }

  @Test
  void verdictsAreReproducibleFromTheFiles() throws IOException {
    Path base = file("a.json", entry(B, "NC:256x1024", "avgt", "us/op", 100, 0.2, 10, 1));
    Path cand = file("b.json", entry(B, "NC:256x1024", "avgt", "us/op", 110, 0.2, 10, 2));
    assertEquals(run(base.toString(), cand.toString()).out(), run(base.toString(), cand.toString()).out());
  }

  @Test
  void malformedJsonGivesAClearErrorAndExitCode2() throws IOException {
    Path bad = dir.resolve("bad.json");
    Files.writeString(bad, "[{\"benchmark\": \"x\", ");
    Path good = file("a.json", entry(B, "NC:256x1024", "avgt", "us/op", 100, 0.01, 4, 1));
    Run r = run(bad.toString(), good.toString());
    assertEquals(2, r.exit());
    assertTrue(r.err().contains("bad.json is not valid JSON") && r.err().contains("line 1"), r.err());

    Files.writeString(bad, "{\"not\": \"an array\"}");
    r = run(good.toString(), bad.toString());
    assertEquals(2, r.exit());
    assertTrue(r.err().contains("not a JMH JSON result"), r.err());

    Files.writeString(bad, "[{\"benchmark\": \"x\", \"mode\": \"avgt\"}]");
    assertEquals(2, run(good.toString(), bad.toString()).exit());
    assertEquals(2, run(good.toString(), dir.resolve("missing.json").toString()).exit());
    assertEquals(2, run(good.toString()).exit());
    assertEquals(2, run(good.toString(), good.toString(), "--threshold", "ten").exit());
    assertEquals(2, run(good.toString(), good.toString(), "--alpha", "5").exit());
    assertEquals(1, r.err().lines().count(), r.err());
  }

  @Test
  void annotatedEnvironmentLabelsTheMachine() throws IOException {
    Path base = file("a.json", entry(B, "NC:256x1024", "avgt", "us/op", 100, 0.01, 20, 1));
    Environment.main(new String[] {"--annotate", base.toString()});
    List<Results.Result> rs = Results.load(base);
    assertTrue(rs.get(0).environment().containsKey("floatLanes"));
    Run r = run(base.toString(), base.toString());
    assertTrue(r.out().contains("float lanes") && r.out().contains("no regression"), r.out());
  }

  /** {@code forks} forks of 10 iterations: the true time times (1 + the fork's load x U[0,1)), one iteration per fork nearly undisturbed. */
  static double[][] loaded(double truth, int forks, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    double[][] out = new double[forks][10];
    for (double[] f : out) {
      double load = 2 * r.nextDouble(); // some forks meet a busy machine throughout, some a quiet one
      for (int i = 0; i < f.length; i++) f[i] = truth * (1 + load * r.nextDouble());
      f[r.nextInt(f.length)] = truth * (1 + 0.02 * r.nextDouble());
    }
    return out;
  }

  @Test
  void forkMinReducesEachForkToItsBestIteration() {
    Results.Result t = new Results.Result(B, java.util.Map.of(), "avgt", 0, 0, "ns/op", "25", "vm", java.util.Map.of(),
        new double[] {5, 3, 4, 9, 7, 8}, 2);
    assertEquals(List.of(3.0, 7.0), java.util.Arrays.stream(Compare.forkBest(t).samples()).boxed().toList());
    assertEquals(2, Compare.forkBest(t).forks());
    Results.Result q = new Results.Result(B, java.util.Map.of(), "thrpt", 0, 0, "ops/s", "25", "vm", java.util.Map.of(),
        new double[] {5, 3, 4, 9, 7, 8}, 2);
    assertEquals(List.of(5.0, 9.0), java.util.Arrays.stream(Compare.forkBest(q).samples()).boxed().toList()); // higher is better
    Results.Result uneven = new Results.Result(B, java.util.Map.of(), "avgt", 0, 0, "ns/op", "25", "vm", java.util.Map.of(),
        new double[] {5, 3, 4}, 2);
    assertEquals(3, Compare.forkBest(uneven).samples().length); // cannot split into forks: left as it is
  }

  @Test
  void forkMinSeesThroughLoadThatOnlyAddsTime() throws IOException {
    // 12 forks a side, per-fork load adding 0-200%: the medians scatter over 1x-3x, the best iterations stay within 2%.
    Path base = file("a.json", entry(B, "NC:256x1024", "avgt", "us/op", "25.0.3", loaded(100, 12, 1)));
    Path slow = file("b.json", entry(B, "NC:256x1024", "avgt", "us/op", "25.0.3", loaded(120, 12, 2)));
    Path same = file("c.json", entry(B, "NC:256x1024", "avgt", "us/op", "25.0.3", loaded(100, 12, 3)));
    Run r = run(base.toString(), slow.toString(), "--estimator", "fork-min");
    assertEquals(Compare.EXIT_REGRESSION, r.exit(), r.out());
    assertTrue(r.out().contains("estimator: each fork's best iteration"), r.out());
    assertEquals(0, run(base.toString(), same.toString(), "--estimator=fork-min").exit());
    assertFalse(run(base.toString(), slow.toString()).exit() == 0); // all iterations: the load hides the 20%
  }

  @Test
  void forkMinFalseAlarmRateStaysBelowAlpha() {
    // 200 same-code comparisons, 6 forks a side under the load model above; threshold 0 leaves only the tests.
    int alarms = 0;
    for (int t = 0; t < 200; t++) {
      Results.Result a = forks(loaded(100, 6, 2L * t)), b = forks(loaded(100, 6, 2L * t + 1));
      if (Compare.compare(List.of(Compare.forkBest(a)), List.of(Compare.forkBest(b)), 0.0).get(0).verdict() == Verdict.REGRESSION) alarms++;
    }
    // Expected at most 200 * 0.005 = 1 one-sided alarm; P(more than 5) under Binomial(200, 0.005) is below 0.1%.
    assertTrue(alarms <= 5, "expected about 1 one-sided alarm, got " + alarms);
  }

  static Results.Result forks(double[][] forks) {
    double[] all = java.util.Arrays.stream(forks).flatMapToDouble(java.util.Arrays::stream).toArray();
    return new Results.Result(B, java.util.Map.of(), "avgt", Stats.median(all), 0, "ns/op", "25", "vm", java.util.Map.of(), all, forks.length);
  }

  @Test
  void unknownEstimatorIsAUsageError() throws IOException {
    Path base = file("a.json", entry(B, "NC:256x1024", "avgt", "us/op", 100, 0.02, 20, 1));
    Run r = run(base.toString(), base.toString(), "--estimator", "mean");
    assertEquals(Compare.EXIT_USAGE, r.exit());
    assertEquals("compare: --estimator must be samples or fork-min, got mean", r.err().trim());
  }
}
