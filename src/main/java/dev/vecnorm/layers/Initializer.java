package dev.vecnorm.layers;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/** Keras weight initializers, serialized with Keras class names. Random ones are seeded: same seed, same weights. */
public sealed interface Initializer {

  /**
   * Fills {@code w}; {@code fanIn}/{@code fanOut} matter only for the Glorot and He families.
   *
   * @param w the weight to fill, all of it
   * @param fanIn inputs per unit (rows of a Dense kernel)
   * @param fanOut outputs per input (columns of a Dense kernel)
   */
  void fill(float[] w, int fanIn, int fanOut);

  /**
   * Keras serialization: {@code {"class_name": ..., "config": {...}}}.
   *
   * @return the serialized form
   */
  Map<String, Object> toConfig();

  /**
   * Keras's {@code Zeros()}.
   *
   * @return the initializer
   */
  static Initializer zeros() {
    return new Constant(0);
  }

  /**
   * Keras's {@code Ones()}.
   *
   * @return the initializer
   */
  static Initializer ones() {
    return new Constant(1);
  }

  /**
   * Keras's {@code Constant(value)}.
   *
   * @param value the value of every element, finite
   * @return the initializer
   */
  static Initializer constant(double value) {
    return new Constant(value);
  }

  /**
   * Keras's {@code RandomNormal(mean, stddev, seed)}.
   *
   * @param mean mean of the values, finite
   * @param stddev standard deviation, finite and at least 0
   * @param seed seed of the random values
   * @return the initializer
   */
  static Initializer randomNormal(double mean, double stddev, long seed) {
    return new RandomNormal(mean, stddev, seed);
  }

  /**
   * Keras's {@code GlorotUniform(seed)}.
   *
   * @param seed seed of the random values
   * @return the initializer
   */
  static Initializer glorotUniform(long seed) {
    return new GlorotUniform(seed);
  }

  /**
   * Keras's {@code HeNormal(seed)}.
   *
   * @param seed seed of the random values
   * @return the initializer
   */
  static Initializer heNormal(long seed) {
    return new HeNormal(seed);
  }

  /**
   * Keras's {@code Constant(value)} (serialized as {@code Zeros} or {@code Ones} for 0 and 1).
   *
   * @param value the value of every element, finite
   */
  record Constant(double value) implements Initializer {
    /**
     * Checks the value.
     *
     * @throws IllegalArgumentException if {@code value} is not finite
     */
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

  /**
   * Keras's {@code RandomNormal(mean, stddev, seed)}.
   *
   * @param mean mean of the values, finite
   * @param stddev standard deviation, finite and at least 0
   * @param seed seed of the random values: same seed, same weights
   */
  record RandomNormal(double mean, double stddev, long seed) implements Initializer {
    /**
     * Checks the arguments.
     *
     * @throws IllegalArgumentException unless {@code mean} is finite and {@code stddev} finite and at least 0
     */
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

  /**
   * Uniform in {@code ±sqrt(6 / (fanIn + fanOut))}.
   *
   * @param seed seed of the random values: same seed, same weights
   */
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

  /**
   * Normal with {@code stddev = sqrt(2 / fanIn)}, truncated at two standard deviations as Keras.
   *
   * @param seed seed of the random values: same seed, same weights
   */
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

  /**
   * Keras's {@code VarianceScaling} (how Keras 2 writes Glorot, He and LeCun): {@code n} = fan_in, fan_out
   * or their mean; {@code uniform} in {@code ±sqrt(3 scale / n)}; {@code truncated_normal} with stddev
   * {@code sqrt(scale / n) / 0.8796} cut at two stddevs; {@code untruncated_normal} (or {@code normal})
   * with stddev {@code sqrt(scale / n)}.
   *
   * @param scale the variance scale, Keras's {@code scale}: finite and greater than 0
   * @param mode which fan the variance divides by: Keras's {@code fan_in}, {@code fan_out} or {@code fan_avg}
   * @param distribution Keras's {@code truncated_normal}, {@code untruncated_normal} (or {@code normal}) or {@code uniform}
   * @param seed seed of the random values: same seed, same weights
   */
  record VarianceScaling(double scale, String mode, String distribution, long seed) implements Initializer {
    /**
     * Checks the arguments.
     *
     * @throws IllegalArgumentException unless {@code scale} is finite and greater than 0, and {@code mode}
     *     and {@code distribution} are names Keras uses
     */
    public VarianceScaling {
      if (!(scale > 0) || Double.isInfinite(scale)) throw new IllegalArgumentException("VarianceScaling scale must be finite and > 0, got " + scale);
      if (!java.util.List.of("fan_in", "fan_out", "fan_avg").contains(mode)) {
        throw new IllegalArgumentException("VarianceScaling mode must be fan_in, fan_out or fan_avg, got " + mode);
      }
      if (!java.util.List.of("uniform", "truncated_normal", "untruncated_normal", "normal").contains(distribution)) {
        throw new IllegalArgumentException("VarianceScaling distribution must be uniform, truncated_normal or untruncated_normal, got " + distribution);
      }
    }

    public void fill(float[] w, int fanIn, int fanOut) {
      double n = Math.max(1.0, switch (mode) {
        case "fan_in" -> fanIn;
        case "fan_out" -> fanOut;
        default -> (fanIn + fanOut) / 2.0;
      });
      SplittableRandom r = new SplittableRandom(seed);
      if (distribution.equals("uniform")) {
        double limit = Math.sqrt(3 * scale / n);
        for (int i = 0; i < w.length; i++) w[i] = (float) ((r.nextDouble() * 2 - 1) * limit);
        return;
      }
      boolean truncated = distribution.equals("truncated_normal");
      double std = Math.sqrt(scale / n) / (truncated ? 0.87962566103423978 : 1);
      for (int i = 0; i < w.length; i++) {
        double g;
        do g = r.nextGaussian(); while (truncated && Math.abs(g) > 2);
        w[i] = (float) (g * std);
      }
    }

    public Map<String, Object> toConfig() {
      return serialized("VarianceScaling", Map.of("scale", scale, "mode", mode, "distribution", distribution, "seed", (double) seed));
    }
  }

  private static Map<String, Object> serialized(String cls, Map<String, Object> config) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("class_name", cls);
    m.put("config", new LinkedHashMap<>(new java.util.TreeMap<>(config)));
    return m;
  }

  /**
   * Inverse of {@link #toConfig()}; unknown classes and keys are rejected by name.
   *
   * @param o a Keras-serialized initializer ({@code class_name} and {@code config})
   * @return the initializer
   */
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
    Configs.Serialized m = Configs.serialized(o, "initializer");
    Map<?, ?> c = m.config();
    String cls = m.className();
    java.util.List<String> keys = switch (cls) {
      case "Zeros", "Ones" -> java.util.List.of("dtype");
      case "Constant" -> java.util.List.of("value", "dtype");
      case "RandomNormal" -> java.util.List.of("mean", "stddev", "seed", "dtype");
      case "GlorotUniform", "HeNormal" -> java.util.List.of("seed", "dtype");
      case "VarianceScaling" -> java.util.List.of("scale", "mode", "distribution", "seed", "dtype");
      default -> throw new IllegalArgumentException("unknown initializer " + cls
          + " (expected Zeros, Ones, Constant, RandomNormal, GlorotUniform, HeNormal or VarianceScaling)");
    };
    Configs.checkKeys(c, cls + " initializer", keys);
    Configs.checkDtype(c); // tf.keras 2.1 writes "dtype": "float32" inside initializer configs
    long seed = Configs.seed(c, "seed", 0);
    return switch (cls) {
      case "Zeros" -> zeros();
      case "Ones" -> ones();
      case "Constant" -> constant(Configs.num(c, "value", 0));
      case "RandomNormal" -> randomNormal(Configs.num(c, "mean", 0), Configs.num(c, "stddev", 0.05), seed);
      case "GlorotUniform" -> glorotUniform(seed);
      case "VarianceScaling" -> new VarianceScaling(Configs.num(c, "scale", 1), Configs.str(c, "mode", "fan_in"),
          Configs.str(c, "distribution", "truncated_normal"), seed);
      default -> heNormal(seed);
    };
  }
}
