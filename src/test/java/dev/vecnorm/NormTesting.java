package dev.vecnorm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.DoubleSupplier;
import org.junit.jupiter.api.function.Executable;

/**
 * What the LayerNorm, RmsNorm and GroupNorm tests (kernels and layers) share: random data, the double
 * reference of one normalized block, central finite differences, tolerance checks, segment copies and
 * the bad-argument check. Public because the layer tests live in {@code dev.vecnorm.layers}.
 */
public final class NormTesting {
  private NormTesting() {}

  private static final ValueLayout.OfFloat FLOAT_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

  /**
   * The implementations to test: the scalar one, and the Panama one where this JVM has it.
   *
   * @param scalar the scalar implementation
   * @param panama the Panama implementation, if available
   * @param <K> the support interface
   * @return one or two implementations
   */
  public static <K> List<K> implementations(K scalar, java.util.Optional<K> panama) {
    List<K> list = new java.util.ArrayList<>();
    list.add(scalar);
    panama.ifPresent(list::add);
    return list;
  }

  /**
   * {@code center + scale * N(0, 1)} in float.
   *
   * @param r the random source
   * @param n how many values
   * @param center the mean
   * @param scale the standard deviation
   * @return the values
   */
  public static float[] random(SplittableRandom r, int n, double center, double scale) {
    float[] a = new float[n];
    for (int i = 0; i < n; i++) a[i] = (float) (center + scale * r.nextGaussian());
    return a;
  }

  /**
   * A float array widened to double.
   *
   * @param a the values, or null
   * @return the widened copy, or null for null
   */
  public static double[] toDouble(float[] a) {
    return a == null ? null : slice(a, 0, a.length);
  }

  /**
   * {@code n} floats from {@code off}, widened to double.
   *
   * @param a the values
   * @param off the first index
   * @param n how many
   * @return the widened copy
   */
  public static double[] slice(float[] a, int off, int n) {
    double[] d = new double[n];
    for (int i = 0; i < n; i++) d[i] = a[off + i];
    return d;
  }

  /**
   * One block normalized in double from the definition, without gamma and beta: layer norm
   * {@code (x - mean) / sqrt(var + eps)} with the biased variance, or RMS norm
   * {@code x / sqrt(mean(x²) + eps)} ({@code rms}: no centering).
   *
   * @param x the block
   * @param eps added to the variance (mean square)
   * @param rms true for RMS norm
   * @param stat when not null, receives the mean (0 for RMS) and the inverse standard deviation (RMS)
   * @return x normalized
   */
  public static double[] normalized(double[] x, double eps, boolean rms, double[] stat) {
    int n = x.length;
    double m = 0;
    if (!rms) {
      for (double v : x) m += v;
      m /= n;
    }
    double q = 0;
    for (double v : x) q += (v - m) * (v - m);
    double s = 1 / Math.sqrt(q / n + eps);
    if (stat != null) {
      stat[0] = m;
      stat[1] = s;
    }
    double[] xhat = new double[n];
    for (int i = 0; i < n; i++) xhat[i] = (x[i] - m) * s;
    return xhat;
  }

  /**
   * Layer norm (or RMS norm) of every row of {@code features} values, then {@code y * gamma[f] + beta[f]},
   * in double from the definition.
   *
   * @param x rows x features values, row-major
   * @param features the row length
   * @param gamma the scale per feature, or null for 1
   * @param beta the offset per feature, or null for 0
   * @param eps added to the variance (mean square)
   * @param rms true for RMS norm
   * @return y, as x
   */
  public static double[] normalizedRows(double[] x, int features, double[] gamma, double[] beta, double eps, boolean rms) {
    double[] y = new double[x.length];
    for (int r = 0; r < x.length / features; r++) {
      double[] xhat = normalized(java.util.Arrays.copyOfRange(x, r * features, (r + 1) * features), eps, rms, null);
      for (int f = 0; f < features; f++) y[r * features + f] = xhat[f] * (gamma == null ? 1 : gamma[f]) + (beta == null ? 0 : beta[f]);
    }
    return y;
  }

  /**
   * {@code Σ w[i] * y[i]}, the loss whose gradient with respect to y is w.
   *
   * @param w the weights (the upstream gradient)
   * @param y the outputs
   * @return the weighted sum, in double
   */
  public static double weightedSum(double[] w, double[] y) {
    double l = 0;
    for (int i = 0; i < y.length; i++) l += w[i] * y[i];
    return l;
  }

  /**
   * Central differences {@code (L(p + h) - L(p - h)) / 2h} of {@code loss} with respect to each listed
   * element of {@code p}, which is changed in place and restored.
   *
   * @param p the variable the loss reads
   * @param indices which elements; null for all
   * @param h the step
   * @param loss the loss at the current {@code p}
   * @return the derivatives, at {@code p}'s indices (0 elsewhere)
   */
  public static double[] centralDifferences(double[] p, int[] indices, double h, DoubleSupplier loss) {
    double[] fd = new double[p.length];
    for (int k = 0; k < (indices == null ? p.length : indices.length); k++) {
      int i = indices == null ? k : indices[k];
      double keep = p[i];
      p[i] = keep + h;
      double lp = loss.getAsDouble();
      p[i] = keep - h;
      double lm = loss.getAsDouble();
      p[i] = keep;
      fd[i] = (lp - lm) / (2 * h);
    }
    return fd;
  }

  /**
   * Checks a float gradient against finite differences to {@code rel} of the largest of them (or of
   * {@code floor}, where the gradient cancels to about 0).
   *
   * @param what the gradient's name, for messages
   * @param expected the finite differences
   * @param actual the kernel's gradient
   * @param actualOffset where {@code actual}'s element 0 is
   * @param indices which elements to compare; null for all
   * @param rel the relative tolerance
   * @param floor the least scale the tolerance is taken of
   */
  public static void assertGradient(String what, double[] expected, float[] actual, int actualOffset, int[] indices, double rel,
                                    double floor) {
    double scale = floor;
    int n = indices == null ? expected.length : indices.length;
    for (int k = 0; k < n; k++) scale = Math.max(scale, Math.abs(expected[indices == null ? k : indices[k]]));
    for (int k = 0; k < n; k++) {
      int i = indices == null ? k : indices[k];
      assertClose(what + "[" + i + "]", expected[i], actual[actualOffset + i], rel * scale);
    }
  }

  /**
   * Fails unless {@code |expected - actual| <= tol}.
   *
   * @param what the value's name, for the message
   * @param expected the reference
   * @param actual the value under test
   * @param tol the absolute tolerance
   */
  public static void assertClose(String what, double expected, double actual, double tol) {
    assertTrue(Math.abs(expected - actual) <= tol, what + ": expected " + expected + ", got " + actual + " (tolerance " + tol + ")");
  }

  /**
   * A copy of {@code data} at byte offset {@code off}, in a native segment or a float[]-backed one.
   *
   * @param arena owns the native segment
   * @param heap true for a float[]-backed segment
   * @param data the values
   * @param off the byte offset
   * @return the segment
   */
  public static MemorySegment segment(Arena arena, boolean heap, float[] data, long off) {
    MemorySegment s = heap ? MemorySegment.ofArray(new float[data.length + (int) off / 4]) : arena.allocate(data.length * 4L + off, 4);
    MemorySegment.copy(data, 0, s, FLOAT_LE, off, data.length);
    return s;
  }

  /**
   * {@code n} floats of {@code s} from byte offset {@code off}.
   *
   * @param s the segment
   * @param off the byte offset
   * @param n how many
   * @return the values
   */
  public static float[] read(MemorySegment s, long off, int n) {
    float[] a = new float[n];
    MemorySegment.copy(s, FLOAT_LE, off, a, 0, n);
    return a;
  }

  /**
   * A call with bad arguments and the text its exception's message must contain.
   *
   * @param expected the argument's name or the expected shape
   * @param call the call
   */
  record BadCall(String expected, Executable call) {}

  /**
   * Each call must throw {@code IllegalArgumentException} (or {@code NullPointerException} for a null
   * argument) naming its argument, before anything is written: every watched array (inputs and outputs)
   * keeps its contents.
   *
   * @param calls the bad calls
   * @param watched every array the calls read or could write
   */
  static void assertRejectedBeforeWriting(List<BadCall> calls, float[]... watched) {
    float[][] before = new float[watched.length][];
    for (int a = 0; a < watched.length; a++) before[a] = watched[a].clone();
    for (BadCall c : calls) {
      Throwable t = assertThrows(RuntimeException.class, c.call(), c.expected());
      assertTrue(t instanceof IllegalArgumentException || t instanceof NullPointerException, c.expected() + ": " + t);
      assertTrue(String.valueOf(t.getMessage()).contains(c.expected()), "message should name " + c.expected() + ": " + t.getMessage());
      for (int a = 0; a < watched.length; a++) assertArrayEquals(before[a], watched[a], c.expected() + ": argument array " + a + " was written");
    }
  }
}
