package dev.vecnorm.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vecnorm.bench.Compare.Verdict;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The regression gate users put in CI: every verdict, exit codes, and bad input. */
class CompareTest {

  @TempDir Path dir;

  static String entry(String name, String shape, String mode, double score, double error, String unit, String jdk) {
    return """
        {"jmhVersion":"1.37","benchmark":"%s","mode":"%s","threads":1,"forks":1,"jdkVersion":"%s",
         "vmName":"OpenJDK 64-Bit Server VM","vmVersion":"%s-LTS","params":{"shape":"%s"},
         "primaryMetric":{"score":%s,"scoreError":%s,"scoreConfidence":[0,0],"scoreUnit":"%s","rawData":[[1,2]]},
         "secondaryMetrics":{}}""".formatted(name, mode, jdk, jdk, shape, score, error, unit);
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
  void slowerBeyondThresholdAndErrorBarsIsARegressionAndFailsTheGate() throws IOException {
    Path base = file("a.json", entry(B, "NC:256x1024", "avgt", 100, 2, "us/op", "25.0.3"));
    Path cand = file("b.json", entry(B, "NC:256x1024", "avgt", 130, 3, "us/op", "25.0.3"));
    assertEquals(Verdict.REGRESSION, verdictOf(base, cand, 0.10));
    Run r = run(base.toString(), cand.toString(), "--threshold", "10%");
    assertEquals(1, r.exit(), r.out() + r.err());
    assertTrue(r.out().contains("REGRESSION") && r.out().contains("1.300"), r.out());
  }

  @Test
  void fasterBeyondThresholdIsAnImprovementAndPasses() throws IOException {
    Path base = file("a.json", entry(B, "NC:256x1024", "avgt", 100, 2, "us/op", "25.0.3"));
    Path cand = file("b.json", entry(B, "NC:256x1024", "avgt", 70, 2, "us/op", "25.0.3"));
    assertEquals(Verdict.IMPROVEMENT, verdictOf(base, cand, 0.10));
    assertEquals(0, run(base.toString(), cand.toString()).exit());
  }

  @Test
  void largeChangeWithOverlappingErrorBarsIsNoiseNotARegression() throws IOException {
    Path base = file("a.json", entry(B, "NC:256x1024", "avgt", 100, 30, "us/op", "25.0.3"));
    Path cand = file("b.json", entry(B, "NC:256x1024", "avgt", 125, 30, "us/op", "25.0.3"));
    assertEquals(Verdict.NOISE, verdictOf(base, cand, 0.10));
    assertEquals(0, run(base.toString(), cand.toString(), "--threshold=10%").exit());
  }

  @Test
  void smallChangeWithTightErrorBarsIsWithinThreshold() throws IOException {
    Path base = file("a.json", entry(B, "NC:256x1024", "avgt", 100, 0.1, "us/op", "25.0.3"));
    Path cand = file("b.json", entry(B, "NC:256x1024", "avgt", 105, 0.1, "us/op", "25.0.3"));
    assertEquals(Verdict.SAME, verdictOf(base, cand, 0.10));
    assertEquals(Verdict.REGRESSION, verdictOf(base, cand, 0.02));
  }

  @Test
  void throughputModeTreatsHigherAsBetter() throws IOException {
    Path base = file("a.json", entry(B, "NC:256x1024", "thrpt", 1000, 10, "ops/s", "25.0.3"));
    Path cand = file("b.json", entry(B, "NC:256x1024", "thrpt", 700, 10, "ops/s", "25.0.3"));
    assertEquals(Verdict.REGRESSION, verdictOf(base, cand, 0.10));
    assertEquals(Verdict.IMPROVEMENT, verdictOf(cand, base, 0.10));
  }

  @Test
  void unitsAreNormalizedBeforeComparing() throws IOException {
    Path base = file("a.json", entry(B, "NC:256x1024", "avgt", 1.0, 0.01, "ms/op", "25.0.3"));
    Path cand = file("b.json", entry(B, "NC:256x1024", "avgt", 1000, 10, "us/op", "25.0.3"));
    assertEquals(Verdict.SAME, verdictOf(base, cand, 0.05));
  }

  @Test
  void mixedModesAreReportedNotCompared() throws IOException {
    Path base = file("a.json", entry(B, "NC:256x1024", "avgt", 100, 1, "us/op", "25.0.3"));
    Path cand = file("b.json", entry(B, "NC:256x1024", "thrpt", 5000, 1, "ops/s", "25.0.3"));
    assertEquals(Verdict.MODE_MISMATCH, verdictOf(base, cand, 0.10));
    Run r = run(base.toString(), cand.toString());
    assertEquals(0, r.exit());
    assertTrue(r.out().contains("modes differ"), r.out());
  }

  @Test
  void benchmarksPresentInOnlyOneFileAreListedAndPairingUsesParameters() throws IOException {
    Path base = file("a.json", entry(B, "NC:256x1024", "avgt", 100, 1, "us/op", "25.0.3"),
        entry(B, "NC:8192x256", "avgt", 100, 1, "us/op", "25.0.3"));
    Path cand = file("b.json", entry(B, "NC:256x1024", "avgt", 100, 1, "us/op", "26"),
        entry(B, "NHWC:7x13x13x17", "avgt", 10, 1, "us/op", "26"));
    List<Compare.Row> rows = Compare.compare(Results.load(base), Results.load(cand), 0.1);
    assertEquals(List.of(Verdict.SAME, Verdict.ONLY_BASELINE, Verdict.ONLY_CANDIDATE), rows.stream().map(Compare.Row::verdict).toList());
    Run r = run(base.toString(), cand.toString());
    assertEquals(0, r.exit());
    assertTrue(r.out().contains("only in baseline") && r.out().contains("only in candidate"), r.out());
    assertTrue(r.out().contains("cross-JDK comparison (25.0.3 vs 26)"), r.out());
  }

  @Test
  void malformedJsonGivesAClearErrorAndExitCode2() throws IOException {
    Path bad = dir.resolve("bad.json");
    Files.writeString(bad, "[{\"benchmark\": \"x\", ");
    Path good = file("a.json", entry(B, "NC:256x1024", "avgt", 100, 1, "us/op", "25.0.3"));
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
  }

  @Test
  void annotatedEnvironmentLabelsTheMachine() throws IOException {
    Path base = file("a.json", entry(B, "NC:256x1024", "avgt", 100, 1, "us/op", "25.0.3"));
    Environment.main(new String[] {"--annotate", base.toString()});
    List<Results.Result> rs = Results.load(base);
    assertTrue(rs.get(0).environment().containsKey("floatLanes"));
    Run r = run(base.toString(), base.toString());
    assertTrue(r.out().contains("float lanes") && r.out().contains("no regression"), r.out());
  }
}
