package dev.vecnorm;

import dev.vecnorm.internal.MatMulSupport;
import dev.vecnorm.internal.VectorizationProvider;
import java.util.Objects;

/** Row-major float matrix multiply for dense layers: validated here, computed by the Vector API kernel when available. */
public final class MatMul {
  private static final MatMulSupport IMPL = VectorizationProvider.matMul();

  private MatMul() {}

  /**
   * {@code c[m][n] = a[m][k] * b[k][n]}, or {@code +=} when {@code accumulate}.
   *
   * @param a left matrix, row-major {@code m x k}: at least {@code m * k} floats from index 0
   * @param b right matrix, row-major {@code k x n}: at least {@code k * n} floats from index 0
   * @param c output (and with {@code accumulate}, input) matrix, row-major {@code m x n}: at least {@code m * n} floats; must not be {@code a} or {@code b}
   * @param m rows of {@code a} and {@code c}, at least 1
   * @param k columns of {@code a} and rows of {@code b}, at least 1
   * @param n columns of {@code b} and {@code c}, at least 1
   * @param accumulate true to add the product to {@code c}, false to overwrite {@code c}
   */
  public static void multiply(float[] a, float[] b, float[] c, int m, int k, int n, boolean accumulate) {
    multiply(IMPL, a, b, c, m, k, n, accumulate);
  }

  static void multiply(MatMulSupport impl, float[] a, float[] b, float[] c, int m, int k, int n, boolean accumulate) {
    Objects.requireNonNull(a, "a");
    Objects.requireNonNull(b, "b");
    Objects.requireNonNull(c, "c");
    if (m < 1 || k < 1 || n < 1) throw new IllegalArgumentException("m, k, n must be >= 1, got " + m + ", " + k + ", " + n);
    if ((long) m * k > a.length) throw new IllegalArgumentException("a must hold m*k = " + (long) m * k + " floats, has " + a.length);
    if ((long) k * n > b.length) throw new IllegalArgumentException("b must hold k*n = " + (long) k * n + " floats, has " + b.length);
    if ((long) m * n > c.length) throw new IllegalArgumentException("c must hold m*n = " + (long) m * n + " floats, has " + c.length);
    if (c == a || c == b) throw new IllegalArgumentException("c must not be a or b");
    impl.multiply(a, b, c, m, k, n, accumulate);
  }

  /**
   * {@code dst[cols][rows] = src[rows][cols]ᵀ}, in tiles so both sides stay in cache.
   *
   * @param src source matrix, row-major {@code rows x cols}: at least {@code rows * cols} floats from index 0
   * @param rows rows of {@code src}, at least 0
   * @param cols columns of {@code src}, at least 0
   * @param dst output matrix, row-major {@code cols x rows}: at least {@code rows * cols} floats; must not overlap {@code src}
   */
  public static void transpose(float[] src, int rows, int cols, float[] dst) {
    Objects.requireNonNull(src, "src");
    Objects.requireNonNull(dst, "dst");
    if ((long) rows * cols > src.length || (long) rows * cols > dst.length) {
      throw new IllegalArgumentException("src and dst must hold rows*cols = " + (long) rows * cols + " floats");
    }
    final int tile = 32;
    for (int i0 = 0; i0 < rows; i0 += tile) {
      for (int j0 = 0; j0 < cols; j0 += tile) {
        int i1 = Math.min(rows, i0 + tile), j1 = Math.min(cols, j0 + tile);
        for (int i = i0; i < i1; i++) for (int j = j0; j < j1; j++) dst[j * rows + i] = src[i * cols + j];
      }
    }
  }
}
