package dev.vecnorm.layers;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * Reading values out of parsed JSON configs, with errors that name the key. Every reader is strict:
 * a value of the wrong type, a fraction where an integer belongs, or a key nobody reads is an error,
 * never silently truncated or ignored (a loaded model must compute what the file says).
 */
final class Configs {
  private Configs() {}

  static Map<?, ?> map(Object o, String what) {
    if (o instanceof Map<?, ?> m) return m;
    throw new IllegalArgumentException(what + " must be a JSON object, got " + o);
  }

  /** Rejects, by name, every key of {@code m} outside {@code known}. */
  static void checkKeys(Map<?, ?> m, String what, Collection<String> known) {
    List<String> unknown = new ArrayList<>();
    for (Object k : m.keySet()) if (!known.contains(String.valueOf(k))) unknown.add(String.valueOf(k));
    if (!unknown.isEmpty()) {
      throw new IllegalArgumentException(what + " has unknown config key" + (unknown.size() > 1 ? "s " : " ") + quoted(unknown)
          + " (known: " + String.join(", ", known) + ")");
    }
  }

  private static String quoted(List<String> keys) {
    List<String> q = new ArrayList<>();
    for (String k : keys) q.add("'" + k + "'");
    return String.join(", ", q);
  }

  static double num(Map<?, ?> m, String key) {
    if (m.get(key) instanceof Number n) return n.doubleValue();
    throw new IllegalArgumentException("config key '" + key + "' must be a number, got " + m.get(key));
  }

  static double num(Map<?, ?> m, String key, double absent) {
    return m.get(key) != null ? num(m, key) : absent;
  }

  /** An integral number in {@code [min, max]}: 3.7 or 1.5 is an error, not 3 or 1. */
  static long integer(Map<?, ?> m, String key, long min, long max) {
    double v = num(m, key);
    if (v != Math.rint(v) || v < min || v > max) {
      throw new IllegalArgumentException("config key '" + key + "' must be an integer in [" + min + ", " + max + "], got " + m.get(key));
    }
    return (long) v;
  }

  static long integer(Map<?, ?> m, String key, long min, long max, long absent) {
    return m.get(key) != null ? integer(m, key, min, max) : absent;
  }

  /** Seeds: any integer a double holds exactly. */
  static long seed(Map<?, ?> m, String key, long absent) {
    return integer(m, key, -(1L << 53), 1L << 53, absent);
  }

  static boolean bool(Map<?, ?> m, String key, boolean absent) {
    Object v = m.get(key);
    if (v == null) return absent;
    if (v instanceof Boolean b) return b;
    throw new IllegalArgumentException("config key '" + key + "' must be true or false, got " + v);
  }

  static String str(Map<?, ?> m, String key, String absent) {
    Object v = m.get(key);
    if (v == null) return absent;
    if (v instanceof String s) return s;
    throw new IllegalArgumentException("config key '" + key + "' must be a string, got " + v);
  }

  /** Keys a layer accepts only at their Keras default (absent or null): anything else is unsupported. */
  static void requireNull(Map<?, ?> m, String what, String... keys) {
    for (String k : keys) {
      if (m.get(k) != null) throw new IllegalArgumentException(what + ": config key '" + k + "' = " + m.get(k) + " is not supported (only null)");
    }
  }

  /** The {@code name}, {@code trainable} and {@code dtype} keys every layer has. */
  static final List<String> BASE_KEYS = List.of("name", "trainable", "dtype");

  static void checkDtype(Map<?, ?> m) {
    String dtype = dtype(m);
    if (!"float32".equals(dtype)) throw new IllegalArgumentException("config key 'dtype' must be float32, got " + dtype);
  }

  /**
   * The dtype's name: Keras 2 and tf.keras write a string ({@code "float32"}); Keras 3 writes a policy
   * object ({@code {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
   * "registered_name": null, "shared_object_id": ...}}), and tf.keras's mixed precision a {@code Policy}.
   */
  static String dtype(Map<?, ?> m) {
    Object v = m.get("dtype");
    if (v == null) return "float32";
    if (v instanceof String s) return s;
    Serialized p = serialized(v, "config key 'dtype'");
    if (!List.of("DTypePolicy", "FloatDTypePolicy", "Policy").contains(p.className())) {
      throw new IllegalArgumentException("config key 'dtype' must be a string or a DTypePolicy, got class " + p.className());
    }
    checkKeys(p.config(), "dtype policy", List.of("name"));
    return str(p.config(), "name", "float32");
  }

  /** A Keras-serialized object: its class name and config (an empty map when absent or null). */
  record Serialized(String className, Map<?, ?> config) {}

  /**
   * Reads {@code {"class_name", "config"}} as every Keras writes it: tf.keras 2.15 and Keras 3 add
   * {@code module} and {@code registered_name}, Keras 3 a {@code shared_object_id} on shared objects.
   * Only built-in objects exist here, so {@code registered_name} must be null or the class name itself
   * (a custom object, {@code "package>Name"}, is rejected by name).
   */
  static Serialized serialized(Object o, String what) {
    Map<?, ?> m = map(o, what);
    checkKeys(m, what, List.of("class_name", "config", "module", "registered_name", "shared_object_id"));
    if (!(m.get("class_name") instanceof String cls)) throw new IllegalArgumentException(what + ": class_name must be a string, got " + m.get("class_name"));
    Object module = m.get("module");
    if (module != null && !(module instanceof String)) throw new IllegalArgumentException(what + ": module must be a string, got " + module);
    Object registered = m.get("registered_name");
    if (registered != null && !cls.equals(registered)) {
      throw new IllegalArgumentException(what + ": registered_name " + registered + " is a custom object, not supported (only Keras's built-in "
          + cls + ")");
    }
    return new Serialized(cls, m.get("config") == null ? Map.of() : map(m.get("config"), what + " config"));
  }

  /**
   * A normalization axis: an int, or a list of exactly one int as tf.keras 2 writes it ({@code [3]}).
   * Several axes (Keras normalizes over their product) are not supported and rejected by name.
   */
  static int axis(Map<?, ?> m, String key, int absent) {
    Object v = m.get(key);
    if (v == null) return absent;
    if (v instanceof List<?> l) {
      if (l.size() != 1) throw new IllegalArgumentException("config key '" + key + "' = " + v + ": only one axis is supported");
      return (int) integer(Map.of(key, l.get(0)), key, Integer.MIN_VALUE, Integer.MAX_VALUE);
    }
    return (int) integer(m, key, Integer.MIN_VALUE, Integer.MAX_VALUE);
  }

  /**
   * The layer a config describes, for layers configured by their constructor: checks {@code dtype}, then
   * builds it with the config's {@code name} ({@code named}) or a generated one ({@code unnamed}) and
   * sets {@code trainable}.
   */
  static <L extends Layer> L layer(Map<?, ?> c, Supplier<L> unnamed, Function<String, L> named) {
    checkDtype(c);
    String name = str(c, "name", null);
    L layer = name == null ? unnamed.get() : named.apply(name);
    layer.setTrainable(bool(c, "trainable", true));
    return layer;
  }

  static List<String> keys(List<String> base, String... more) {
    return keys(base, List.of(), more);
  }

  /** {@code base}, then {@code shared} (for example {@link AffineOptions#KEYS}), then {@code more}. */
  static List<String> keys(List<String> base, List<String> shared, String... more) {
    List<String> all = new ArrayList<>(base);
    all.addAll(shared);
    all.addAll(List.of(more));
    return all;
  }
}
