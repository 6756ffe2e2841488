package dev.vecnorm.layers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vecnorm.io.Json;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Function;

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

  /**
   * Checks that the layer's config has every one of {@code kerasKeys}, survives JSON and
   * {@code fromConfig}, and writes the same JSON again.
   *
   * @return the layer read back
   */
  static <L extends Layer> L assertConfigRoundTrip(L layer, Function<Map<String, Object>, L> fromConfig, List<String> kerasKeys) {
    Map<String, Object> config = layer.getConfig();
    for (String key : kerasKeys) assertTrue(config.containsKey(key), "config has Keras key " + key);
    String json = Json.write(config);
    @SuppressWarnings("unchecked")
    Map<String, Object> parsed = (Map<String, Object>) Json.parse(json);
    L copy = fromConfig.apply(parsed);
    assertEquals(json, Json.write(copy.getConfig()));
    return copy;
  }

  static float[] random(int n, double mean, double std, long seed) {
    return dev.vecnorm.NormTesting.random(new SplittableRandom(seed), n, mean, std);
  }

  static double[] toDouble(float[] a) {
    return dev.vecnorm.NormTesting.toDouble(a);
  }
}
