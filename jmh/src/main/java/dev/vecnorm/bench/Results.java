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

  /**
   * One benchmark score, normalized to nanoseconds per op or ops per second, with its raw samples
   * (one per measurement iteration of every fork, same unit) and the number of forks they came from.
   */
  public record Result(String benchmark, Map<String, String> params, String mode, double score, double error,
                       String unit, String jdk, String vm, Map<String, Object> environment,
                       double[] samples, int forks) {

    /** A result without raw samples (the gate calls such a comparison inconclusive). */
    public Result(String benchmark, Map<String, String> params, String mode, double score, double error,
                  String unit, String jdk, String vm, Map<String, Object> environment) {
      this(benchmark, params, mode, score, error, unit, jdk, vm, environment, new double[0], 0);
    }

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
    Object root = parse(file);
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
      List<double[]> forks = rawSamples(metric, file, name);
      int count = 0;
      for (double[] f : forks) count += f.length;
      double[] samples = new double[count];
      int at = 0;
      for (double[] f : forks) {
        for (double v : f) samples[at++] = v * factor;
      }
      out.add(new Result(name, params, mode, score * factor, error * factor, baseUnit(unit),
          String.valueOf(e.get("jdkVersion")), e.get("vmName") + " " + e.get("vmVersion"), env, samples, forks.size()));
    }
    return out;
  }

  /**
   * Per fork, the per-iteration scores in the file's unit: {@code primaryMetric.rawData} (avgt, thrpt, ss),
   * or for sample mode each iteration's mean from {@code rawDataHistogram} ([value, count] pairs).
   * Empty when neither is present.
   */
  static List<double[]> rawSamples(Map<?, ?> metric, Path file, String name) {
    List<double[]> forks = new ArrayList<>();
    if (metric.get("rawData") instanceof List<?> raw) {
      for (Object fork : raw) {
        if (!(fork instanceof List<?> iterations)) throw new IllegalArgumentException(file + ": " + name + " has a rawData entry that is not a list of numbers");
        double[] f = new double[iterations.size()];
        for (int i = 0; i < f.length; i++) {
          if (!(iterations.get(i) instanceof Double d)) throw new IllegalArgumentException(file + ": " + name + " has a non-numeric rawData value");
          f[i] = d;
        }
        forks.add(f);
      }
    } else if (metric.get("rawDataHistogram") instanceof List<?> hist) {
      for (Object fork : hist) {
        if (!(fork instanceof List<?> iterations)) throw new IllegalArgumentException(file + ": " + name + " has a malformed rawDataHistogram");
        double[] f = new double[iterations.size()];
        for (int i = 0; i < f.length; i++) {
          double sum = 0, n = 0;
          if (!(iterations.get(i) instanceof List<?> bins)) throw new IllegalArgumentException(file + ": " + name + " has a malformed rawDataHistogram");
          for (Object bin : bins) {
            if (!(bin instanceof List<?> vc) || vc.size() != 2 || !(vc.get(0) instanceof Double v) || !(vc.get(1) instanceof Double c)) {
              throw new IllegalArgumentException(file + ": " + name + " has a rawDataHistogram bin that is not [value, count]");
            }
            sum += v * c;
            n += c;
          }
          f[i] = n > 0 ? sum / n : Double.NaN;
        }
        forks.add(f);
      }
    }
    return forks;
  }

  /**
   * Merges JMH JSON files of the same selection, run one fork at a time (the A/B mode), into one
   * JMH JSON document: per benchmark and parameters, the forks' {@code rawData} are concatenated and
   * score, scoreError (99.9% Student t half-width, as JMH computes it) and scoreConfidence recomputed
   * from all samples. Secondary metrics are those of the first file.
   */
  @SuppressWarnings("unchecked")
  public static List<Object> merge(List<Path> files) throws IOException {
    Map<String, Map<String, Object>> byKey = new java.util.LinkedHashMap<>();
    for (Path file : files) {
      Object root = parse(file);
      if (!(root instanceof List<?> entries)) {
        throw new IllegalArgumentException(file + " is not a JMH JSON result (expected a top-level array, run JMH with -rf json)");
      }
      for (Object o : entries) {
        if (!(o instanceof Map<?, ?> e) || !(e.get("primaryMetric") instanceof Map<?, ?> metric) || !(e.get("benchmark") instanceof String name)) {
          throw new IllegalArgumentException(file + " has an entry without benchmark and primaryMetric: not a JMH JSON result");
        }
        String key = name + " " + e.get("mode") + (e.get("params") instanceof Map<?, ?> p ? new TreeMap<>(p).toString() : "");
        Map<String, Object> first = byKey.get(key);
        if (first == null) {
          byKey.put(key, (Map<String, Object>) e);
          continue;
        }
        Map<String, Object> firstMetric = (Map<String, Object>) first.get("primaryMetric");
        for (String raw : new String[] {"rawData", "rawDataHistogram"}) {
          if (firstMetric.get(raw) instanceof List<?> a && metric.get(raw) instanceof List<?> b) {
            List<Object> joined = new ArrayList<>(a);
            joined.addAll(b);
            firstMetric.put(raw, joined);
          }
        }
      }
    }
    for (Map<String, Object> e : byKey.values()) {
      Map<String, Object> metric = (Map<String, Object>) e.get("primaryMetric");
      List<double[]> forks = rawSamples(metric, Path.of("merged"), String.valueOf(e.get("benchmark")));
      int n = 0;
      double sum = 0;
      for (double[] f : forks) for (double v : f) { sum += v; n++; }
      if (n == 0) continue;
      double mean = sum / n, ss = 0;
      for (double[] f : forks) for (double v : f) ss += (v - mean) * (v - mean);
      double err = n > 1 ? Stats.tQuantile(0.9995, n - 1) * Math.sqrt(ss / (n - 1) / n) : Double.NaN;
      metric.put("score", mean);
      metric.put("scoreError", err);
      metric.put("scoreConfidence", List.of(mean - err, mean + err));
      e.put("forks", (double) forks.size());
    }
    return new ArrayList<>(byKey.values());
  }

  private static Object parse(Path file) throws IOException {
    try {
      return Json.parse(Files.readString(file));
    } catch (Json.ParseException e) {
      throw new IllegalArgumentException(file + " is not valid JSON: " + e.getMessage(), e);
    }
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
