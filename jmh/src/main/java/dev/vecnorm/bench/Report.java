package dev.vecnorm.bench;

import dev.vecnorm.NormShape;
import dev.vecnorm.bench.Results.Result;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code report RESULT.json}: a Markdown table per shape and operation from a JMH run of the suite:
 * the vector time, its speedup over the scalar and naive variants, elements/s, GB/s of compulsory
 * traffic, and that as a fraction of the bandwidth probe measured in the same run.
 */
public final class Report {
  private Report() {}

  /** Tensor-sized reads + writes an operation must do at least once (the bandwidth probe does exactly these). */
  static int passes(String operation) {
    return switch (operation) {
      case "statistics" -> 1;
      case "trainingForward" -> 3;
      case "inferenceForward", "layerNormForward", "rmsNormForward" -> 2; // LayerNormBenchmark: a row stays in cache
      case "layerNormBackward", "rmsNormBackward" -> 3;
      case "backward" -> 5;
      case "trainingStep" -> 8;
      default -> 0;
    };
  }

  public static void main(String[] args) throws Exception {
    if (args.length != 1) {
      System.err.println("usage: report RESULT.json");
      System.exit(2);
    }
    List<Result> results;
    try {
      results = Results.load(Path.of(args[0]));
    } catch (IllegalArgumentException e) {
      System.err.println("report: " + e.getMessage());
      System.exit(2);
      return;
    }
    System.out.print(render(results));
  }

  public static String render(List<Result> results) {
    Map<String, Map<String, Result>> byCell = new LinkedHashMap<>();
    for (Result r : results) {
      if (!(r.benchmark().startsWith("dev.vecnorm.bench.")) || !r.params().containsKey("shape")) continue;
      byCell.computeIfAbsent(r.params().get("shape") + "|" + r.operation(), k -> new LinkedHashMap<>()).put(r.variant(), r);
    }
    StringBuilder sb = new StringBuilder();
    if (!results.isEmpty()) sb.append("Environment: ").append(Compare.describe(results)).append("\n\n");
    sb.append("| shape | operation | vector µs | vs scalar | vs naive | Gelem/s | GB/s | % of probe |\n");
    sb.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (var e : byCell.entrySet()) {
      String[] k = e.getKey().split("\\|");
      Map<String, Result> v = e.getValue();
      Result vec = v.get("Vector");
      if (vec == null) continue;
      NormShape shape = Workload.parse(k[0]);
      double seconds = vec.score() * 1e-9;
      double bytes = passes(k[1]) * shape.size() * 4.0;
      Result probe = v.get("Bandwidth");
      sb.append(String.format(Locale.ROOT, "| %s | %s | %.1f ± %.1f | %s | %s | %.2f | %s | %s |%n",
          k[0], k[1], vec.score() / 1e3, vec.error() / 1e3,
          ratio(v.get("Scalar"), vec), ratio(v.get("Naive"), vec),
          shape.size() / seconds / 1e9,
          bytes > 0 ? String.format(Locale.ROOT, "%.1f", bytes / seconds / 1e9) : "-",
          bytes > 0 && probe != null ? String.format(Locale.ROOT, "%.0f%%", 100 * probe.score() / vec.score()) : "-"));
    }
    segmentTable(byCell, sb);
    List<Result> matmul = results.stream().filter(r -> r.benchmark().endsWith("MatMulVector.multiply")).toList();
    if (!matmul.isEmpty()) {
      sb.append("\n| matmul MxKxN | vector µs | GFLOP/s | vs scalar |\n| --- | ---: | ---: | ---: |\n");
      for (Result v : matmul) {
        String dims = v.params().get("dims");
        String[] p = dims.split("x");
        double flops = 2.0 * Long.parseLong(p[0]) * Long.parseLong(p[1]) * Long.parseLong(p[2]);
        Result scalar = results.stream().filter(r -> r.benchmark().endsWith("MatMulScalar.multiply") && dims.equals(r.params().get("dims")))
            .findFirst().orElse(null);
        sb.append(String.format(Locale.ROOT, "| %s | %.1f ± %.1f | %.1f | %s |%n", dims, v.score() / 1e3, v.error() / 1e3,
            flops / v.score(), ratio(scalar, v)));
      }
    }
    return sb.toString();
  }

  /**
   * The {@code MemorySegment} entry points ({@code Segment}: native, {@code HeapSegment}: a float[]'s
   * segment) as time relative to the {@code float[]} entry point ({@code Vector}): 1.00x is array speed.
   */
  private static void segmentTable(Map<String, Map<String, Result>> byCell, StringBuilder sb) {
    StringBuilder rows = new StringBuilder();
    for (var e : byCell.entrySet()) {
      Result vec = e.getValue().get("Vector"), nat = e.getValue().get("Segment"), heap = e.getValue().get("HeapSegment");
      if (vec == null || (nat == null && heap == null)) continue;
      String[] k = e.getKey().split("\\|");
      rows.append(String.format(Locale.ROOT, "| %s | %s | %.1f | %s | %s | %s | %s |%n", k[0], k[1], vec.score() / 1e3,
          nat == null ? "-" : String.format(Locale.ROOT, "%.1f", nat.score() / 1e3), ratio(nat, vec),
          heap == null ? "-" : String.format(Locale.ROOT, "%.1f", heap.score() / 1e3), ratio(heap, vec)));
    }
    if (rows.isEmpty()) return;
    sb.append("\n| shape | operation | float[] µs | native segment µs | time vs float[] | heap segment µs | time vs float[] |\n");
    sb.append("| --- | --- | ---: | ---: | ---: | ---: | ---: |\n").append(rows);
  }

  private static String ratio(Result slower, Result vec) {
    return slower == null ? "-" : String.format(Locale.ROOT, "%.2f×", slower.score() / vec.score());
  }
}
