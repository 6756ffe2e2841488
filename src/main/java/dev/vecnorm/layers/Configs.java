package dev.vecnorm.layers;

import java.util.Map;

/** Reading values out of parsed JSON configs, with errors that name the key. */
final class Configs {
  private Configs() {}

  static Map<?, ?> map(Object o, String what) {
    if (o instanceof Map<?, ?> m) return m;
    throw new IllegalArgumentException(what + " must be a JSON object, got " + o);
  }

  static double num(Map<?, ?> m, String key) {
    if (m.get(key) instanceof Number n) return n.doubleValue();
    throw new IllegalArgumentException("config key '" + key + "' must be a number, got " + m.get(key));
  }

  static double num(Map<?, ?> m, String key, double absent) {
    return m.containsKey(key) && m.get(key) != null ? num(m, key) : absent;
  }

  static boolean bool(Map<?, ?> m, String key, boolean absent) {
    Object v = m.get(key);
    if (v == null) return absent;
    if (v instanceof Boolean b) return b;
    throw new IllegalArgumentException("config key '" + key + "' must be true or false, got " + v);
  }

  static String str(Map<?, ?> m, String key, String absent) {
    Object v = m.get(key);
    return v == null ? absent : String.valueOf(v);
  }
}
