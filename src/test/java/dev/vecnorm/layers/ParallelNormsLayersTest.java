package dev.vecnorm.layers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vecnorm.ParallelNorms;
import java.util.SplittableRandom;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * LayerNormalization (also with rms_scaling) and GroupNormalization built with {@code parallel(ParallelNorms)}
 * against the same layer on the caller's thread: y and dx bit for bit where ParallelNorms runs the facades'
 * kernels on whole rows, samples or group blocks; within float rounding where it splits channels-last
 * samples into row ranges (1e-5 of |y|, of the largest |dx|); gamma and beta gradients within float
 * rounding of their sums (2e-6 per summed term: dy and xhat are O(1) here). The choice stays out of the config.
 */
class ParallelNormsLayersTest {

  /** Forward (training) and backward of one new layer on seeded data and weights: {y, dx, dGamma, dBeta}. */
  private static float[][] run(Supplier<AffineNormalization> make, int[] dims) {
    SplittableRandom r = new SplittableRandom(7);
    int size = 1;
    for (int d : dims) size *= d;
    float[] x = new float[size], dy = new float[size];
    for (int i = 0; i < size; i++) {
      x[i] = (float) (1.5 + 2 * r.nextGaussian());
      dy[i] = (float) r.nextGaussian();
    }
    AffineNormalization layer = make.get();
    layer.build(dims);
    if (layer.gamma() != null) for (int i = 0; i < layer.gamma().length; i++) layer.gamma()[i] = (float) (1 + 0.5 * r.nextGaussian());
    if (layer.beta() != null) for (int i = 0; i < layer.beta().length; i++) layer.beta()[i] = (float) r.nextGaussian();
    float[] y = layer.call(new Tensor(dims, x), true).data();
    float[] dx = layer.backward(new Tensor(dims, dy)).data();
    return new float[][] {y, dx, layer.gamma == null ? null : layer.gamma.grad(), layer.beta == null ? null : layer.beta.grad()};
  }

  private static void compare(String what, Supplier<AffineNormalization> single, Supplier<AffineNormalization> parallel, int[] dims,
                              boolean sameBits, int termsPerParameter) {
    float[][] s = run(single, dims), p = run(parallel, dims);
    if (sameBits) {
      assertArrayEquals(s[0], p[0], what + " y");
      assertArrayEquals(s[1], p[1], what + " dx");
    } else {
      float maxDx = 0;
      for (float v : s[1]) maxDx = Math.max(maxDx, Math.abs(v));
      int bad = 0;
      for (int i = 0; i < s[0].length; i++) { // counted, so that no message is built per element
        if (!(Math.abs(s[0][i] - p[0][i]) <= 1e-5 * (1 + Math.abs(s[0][i])))) bad++;
        if (!(Math.abs(s[1][i] - p[1][i]) <= 1e-5 * maxDx)) bad++;
      }
      assertEquals(0, bad, what + ": elements of y or dx off by more than 1e-5");
    }
    for (int k = 2; k < 4; k++) {
      assertEquals(s[k] == null, p[k] == null, what + " gradient " + k);
      if (s[k] == null) continue;
      for (int c = 0; c < s[k].length; c++) assertEquals(s[k][c], p[k][c], 2e-6 * termsPerParameter, what + " gradient " + k + "[" + c + "]");
    }
  }

  @Test
  void layersOnParallelNormsMatchTheSingleThreadedLayer() {
    try (ParallelNorms norms = new ParallelNorms(2)) {
      // 300 rows of 1000: three chunks of rows.
      compare("layer norm", () -> LayerNormalization.create(), () -> LayerNormalization.builder().parallel(norms).build(),
          new int[] {3, 100, 1000}, true, 300);
      compare("rms norm", () -> LayerNormalization.builder().rmsScaling(true).build(),
          () -> LayerNormalization.builder().rmsScaling(true).parallel(norms).build(), new int[] {300, 1000}, true, 300);
      // Channels-first: a sample of 262144 floats splits into blocks of groups.
      compare("group norm NCHW", () -> GroupNormalization.builder().axis(1).build(),
          () -> GroupNormalization.builder().axis(1).parallel(norms).build(), new int[] {2, 64, 64, 64}, true, 2 * 64 * 64);
      // Channels-last, batch 1: the sample splits into row ranges (another summation order).
      compare("group norm NHWC", () -> GroupNormalization.create(), () -> GroupNormalization.builder().parallel(norms).build(),
          new int[] {1, 64, 64, 64}, false, 64 * 64);
      // A runtime choice: not in the config.
      assertEquals(GroupNormalization.create().getConfig().keySet(), GroupNormalization.builder().parallel(norms).build().getConfig().keySet());
      assertTrue(LayerNormalization.builder().parallel(norms).build().getConfig().keySet().stream().noneMatch(k -> k.contains("parallel")));
    }
  }
}
