package dev.vecnorm.layers;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;

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
    String dtype = str(m, "dtype", "float32");
    if (!"float32".equals(dtype)) throw new IllegalArgumentException("config key 'dtype' must be float32, got " + dtype);
  }

  static List<String> keys(List<String> base, String... more) {
    List<String> all = new ArrayList<>(base);
    all.addAll(List.of(more));
    return all;
  }
}
