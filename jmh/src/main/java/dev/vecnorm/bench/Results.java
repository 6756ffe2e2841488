package dev.vecnorm.bench;

import dev.vecnorm.io.Json;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** JMH JSON results (the {@code -rf json} format), read into records. */
public final class Results {
  private Results() {}

  /** One benchmark score, normalized to nanoseconds per op or ops per second. */
  public record Result(String benchmark, Map<String, String> params, String mode, double score, double error,
                       String unit, String jdk, String vm, Map<String, Object> environment) {

    /** Benchmark name plus its parameters: what two runs are paired by. */
    public String key() {
      return params.isEmpty() ? benchmark : benchmark + params;
    }

    /** Class simple name, e.g. "Vector" in dev.vecnorm.bench.Vector.backward. */
    public String variant() {
      String[] parts = benchmark.split("\\.");
      return parts.length >= 2 ? parts[parts.length - 2] : benchmark;
    }

    /** Method name, e.g. "backward". */
    public String operation() {
      return benchmark.substring(benchmark.lastIndexOf('.') + 1);
    }

    /** True when a lower score is better (time per op); false for throughput. */
    public boolean lowerIsBetter() {
      return !mode.equals("thrpt");
    }
  }

  public static List<Result> load(Path file) throws IOException {
    String text = Files.readString(file);
    Object root;
    try {
      root = Json.parse(text);
    } catch (Json.ParseException e) {
      throw new IllegalArgumentException(file + " is not valid JSON: " + e.getMessage(), e);
    }
    if (!(root instanceof List<?> entries)) {
      throw new IllegalArgumentException(file + " is not a JMH JSON result (expected a top-level array, run JMH with -rf json)");
    }
    List<Result> out = new ArrayList<>();
    for (Object o : entries) {
      if (!(o instanceof Map<?, ?> e) || !(e.get("primaryMetric") instanceof Map<?, ?> metric)
          || !(e.get("benchmark") instanceof String name) || !(e.get("mode") instanceof String mode)) {
        throw new IllegalArgumentException(file + " has an entry without benchmark, mode and primaryMetric: not a JMH JSON result");
      }
      Map<String, String> params = new TreeMap<>();
      if (e.get("params") instanceof Map<?, ?> p) p.forEach((k, v) -> params.put(String.valueOf(k), String.valueOf(v)));
      if (!(metric.get("score") instanceof Double score) || !(metric.get("scoreUnit") instanceof String unit)) {
        throw new IllegalArgumentException(file + ": " + name + " has no numeric primaryMetric.score and scoreUnit");
      }
      double error = metric.get("scoreError") instanceof Double d && !d.isNaN() ? d : 0;
      double factor = toBase(unit, file, name);
      @SuppressWarnings("unchecked")
      Map<String, Object> env = e.get("environment") instanceof Map<?, ?> m ? (Map<String, Object>) m : Map.of();
      out.add(new Result(name, params, mode, score * factor, error * factor, baseUnit(unit),
          String.valueOf(e.get("jdkVersion")), e.get("vmName") + " " + e.get("vmVersion"), env));
    }
    return out;
  }

  /** Factor to ns/op for time units, to ops/s for throughput units. */
  static double toBase(String unit, Path file, String name) {
    return switch (unit) {
      case "ns/op" -> 1;
      case "us/op" -> 1e3;
      case "ms/op" -> 1e6;
      case "s/op" -> 1e9;
      case "ops/s" -> 1;
      case "ops/ms" -> 1e3;
      case "ops/us" -> 1e6;
      case "ops/ns" -> 1e9;
      default -> throw new IllegalArgumentException(file + ": " + name + " has unknown unit " + unit);
    };
  }

  static String baseUnit(String unit) {
    return unit.startsWith("ops/") ? "ops/s" : "ns/op";
  }
}
