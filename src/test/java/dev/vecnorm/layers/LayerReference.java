package dev.vecnorm.layers;

import java.util.SplittableRandom;

/**
 * Keras's BatchNormalization formulas in double, written from the Keras documentation and the
 * renormalization paper, for the layer tests to compare against.
 */
final class LayerReference {
  private LayerReference() {}

  /** [outer, channels, inner] split of a row-major shape at axis (negative allowed). */
  static int[] split(int[] dims, int axis) {
    int a = axis < 0 ? axis + dims.length : axis, outer = 1, inner = 1;
    for (int i = 0; i < a; i++) outer *= dims[i];
    for (int i = a + 1; i < dims.length; i++) inner *= dims[i];
    return new int[] {outer, dims[a], inner};
  }

  /** {mean, biased variance} per channel over positions where mask is null or true. */
  static double[][] moments(float[] x, int[] s, boolean[] mask) {
    int outer = s[0], C = s[1], inner = s[2];
    double[] mean = new double[C], var = new double[C];
    for (int c = 0; c < C; c++) {
      double sum = 0, n = 0;
      for (int o = 0; o < outer; o++) {
        for (int i = 0; i < inner; i++) {
          if (mask == null || mask[o * inner + i]) {
            sum += x[(o * C + c) * inner + i];
            n++;
          }
        }
      }
      mean[c] = n == 0 ? 0 : sum / n;
      double sq = 0;
      for (int o = 0; o < outer; o++) {
        for (int i = 0; i < inner; i++) {
          if (mask == null || mask[o * inner + i]) {
            double d = x[(o * C + c) * inner + i] - mean[c];
            sq += d * d;
          }
        }
      }
      var[c] = n == 0 ? 0 : sq / n;
    }
    return new double[][] {mean, var};
  }

  static double[] apply(float[] x, int[] s, double[] mean, double[] var, double eps, double[] scale, double[] shift) {
    int outer = s[0], C = s[1], inner = s[2];
    double[] y = new double[x.length];
    for (int o = 0; o < outer; o++) {
      for (int c = 0; c < C; c++) {
        for (int i = 0; i < inner; i++) {
          int k = (o * C + c) * inner + i;
          y[k] = scale[c] * (x[k] - mean[c]) / Math.sqrt(var[c] + eps) + shift[c];
        }
      }
    }
    return y;
  }

  static float[] random(int n, double mean, double std, long seed) {
    return dev.vecnorm.NormTesting.random(new SplittableRandom(seed), n, mean, std);
  }

  static double[] toDouble(float[] a) {
    return dev.vecnorm.NormTesting.toDouble(a);
  }
}
