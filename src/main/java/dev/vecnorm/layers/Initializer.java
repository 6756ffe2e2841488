package dev.vecnorm.layers;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/** Keras weight initializers, serialized with Keras class names. Random ones are seeded: same seed, same weights. */
public sealed interface Initializer {

  /** Fills {@code w}; {@code fanIn}/{@code fanOut} matter only for the Glorot and He families. */
  void fill(float[] w, int fanIn, int fanOut);

  Map<String, Object> toConfig();

  static Initializer zeros() {
    return new Constant(0);
  }

  static Initializer ones() {
    return new Constant(1);
  }

  static Initializer constant(double value) {
    return new Constant(value);
  }

  static Initializer randomNormal(double mean, double stddev, long seed) {
    return new RandomNormal(mean, stddev, seed);
  }

  static Initializer glorotUniform(long seed) {
    return new GlorotUniform(seed);
  }

  static Initializer heNormal(long seed) {
    return new HeNormal(seed);
  }

  record Constant(double value) implements Initializer {
    public Constant {
      if (!Double.isFinite(value)) throw new IllegalArgumentException("Constant initializer value must be finite, got " + value);
    }

    public void fill(float[] w, int fanIn, int fanOut) {
      java.util.Arrays.fill(w, (float) value);
    }

    public Map<String, Object> toConfig() {
      if (value == 0) return serialized("Zeros", Map.of());
      if (value == 1) return serialized("Ones", Map.of());
      return serialized("Constant", Map.of("value", value));
    }
  }

  record RandomNormal(double mean, double stddev, long seed) implements Initializer {
    public RandomNormal {
      if (!Double.isFinite(mean) || !(stddev >= 0) || Double.isInfinite(stddev)) {
        throw new IllegalArgumentException("RandomNormal needs a finite mean and a finite stddev >= 0, got " + mean + ", " + stddev);
      }
    }

    public void fill(float[] w, int fanIn, int fanOut) {
      SplittableRandom r = new SplittableRandom(seed);
      for (int i = 0; i < w.length; i++) w[i] = (float) (mean + stddev * r.nextGaussian());
    }

    public Map<String, Object> toConfig() {
      return serialized("RandomNormal", Map.of("mean", mean, "stddev", stddev, "seed", (double) seed));
    }
  }

  /** Uniform in {@code ±sqrt(6 / (fanIn + fanOut))}. */
  record GlorotUniform(long seed) implements Initializer {
    public void fill(float[] w, int fanIn, int fanOut) {
      SplittableRandom r = new SplittableRandom(seed);
      double limit = Math.sqrt(6.0 / (fanIn + fanOut));
      for (int i = 0; i < w.length; i++) w[i] = (float) ((r.nextDouble() * 2 - 1) * limit);
    }

    public Map<String, Object> toConfig() {
      return serialized("GlorotUniform", Map.of("seed", (double) seed));
    }
  }

  /** Normal with {@code stddev = sqrt(2 / fanIn)}, truncated at two standard deviations as Keras. */
  record HeNormal(long seed) implements Initializer {
    public void fill(float[] w, int fanIn, int fanOut) {
      SplittableRandom r = new SplittableRandom(seed);
      double std = Math.sqrt(2.0 / fanIn) / 0.87962566103423978;
      for (int i = 0; i < w.length; i++) {
        double g;
        do g = r.nextGaussian(); while (Math.abs(g) > 2);
        w[i] = (float) (g * std);
      }
    }

    public Map<String, Object> toConfig() {
      return serialized("HeNormal", Map.of("seed", (double) seed));
    }
  }

  private static Map<String, Object> serialized(String cls, Map<String, Object> config) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("class_name", cls);
    m.put("config", new LinkedHashMap<>(new java.util.TreeMap<>(config)));
    return m;
  }

  static Initializer fromConfig(Object o) {
    if (o instanceof String s) {
      return fromConfig(Map.of("class_name", switch (s) {
        case "zeros" -> "Zeros";
        case "ones" -> "Ones";
        case "glorot_uniform" -> "GlorotUniform";
        case "he_normal" -> "HeNormal";
        default -> s;
      }));
    }
    Map<?, ?> m = Configs.map(o, "initializer");
    Configs.checkKeys(m, "initializer", java.util.List.of("class_name", "config"));
    Map<?, ?> c = m.get("config") == null ? Map.of() : Configs.map(m.get("config"), "initializer config");
    String cls = String.valueOf(m.get("class_name"));
    java.util.List<String> keys = switch (cls) {
      case "Zeros", "Ones" -> java.util.List.of();
      case "Constant" -> java.util.List.of("value");
      case "RandomNormal" -> java.util.List.of("mean", "stddev", "seed");
      case "GlorotUniform", "HeNormal" -> java.util.List.of("seed");
      default -> throw new IllegalArgumentException("unknown initializer " + m.get("class_name")
          + " (expected Zeros, Ones, Constant, RandomNormal, GlorotUniform or HeNormal)");
    };
    Configs.checkKeys(c, cls + " initializer", keys);
    long seed = Configs.seed(c, "seed", 0);
    return switch (cls) {
      case "Zeros" -> zeros();
      case "Ones" -> ones();
      case "Constant" -> constant(Configs.num(c, "value", 0));
      case "RandomNormal" -> randomNormal(Configs.num(c, "mean", 0), Configs.num(c, "stddev", 0.05), seed);
      case "GlorotUniform" -> glorotUniform(seed);
      default -> heNormal(seed);
    };
  }
}
