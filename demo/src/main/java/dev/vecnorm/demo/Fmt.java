package dev.vecnorm.demo;

import java.util.Locale;

/** Number formats shared by the table, the log and the chart. */
final class Fmt {
  private Fmt() {}

  /** Short and exact enough for learning rates and scales: 0.01, 0.3, 1, 10, 0.001. */
  static String number(double v) {
    String s = String.format(Locale.ROOT, "%.3g", v);
    if (s.contains("e")) return s;
    if (s.contains(".")) s = s.replaceAll("0+$", "").replaceAll("\\.$", "");
    return s;
  }

  static String accuracy(double v) {
    return Double.isNaN(v) ? "n/a" : String.format(Locale.ROOT, "%.3f", v);
  }

  /** Percentage points, signed. */
  static String points(double v) {
    return String.format(Locale.ROOT, "%+.1f pp", 100 * v);
  }
}
