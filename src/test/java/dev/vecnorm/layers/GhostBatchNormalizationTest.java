package dev.vecnorm.layers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vecnorm.MovingVariance;
import dev.vecnorm.ParallelBatchNorm;
import dev.vecnorm.io.Json;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Ghost batch norm ({@code virtualBatchSize}) against an independent double-precision transcription of
 * tf.keras 2's algorithm: reshape the batch to {@code [v, B/v, ...]}, moments over axis 0 and every
 * non-channel axis but the virtual-batch one, normalize, and move the moving statistics toward the
 * {@code reduce_mean} over virtual batches of the means and biased variances.
 * Tolerances: outputs 1e-4 absolute (they are O(1)); moving statistics 1e-5 relative; input and
 * parameter gradients within 2e-3 (relative to max(1, |g|)) of central differences of the reference.
 */
class GhostBatchNormalizationTest {

  static Stream<Arguments> cases() {
    return Stream.of(
        Arguments.of(new int[] {6, 5}, -1, 2),        // rank 2: 3 interleaved virtual batches of 2
        Arguments.of(new int[] {8, 3}, 1, 4),
        Arguments.of(new int[] {6, 17}, -1, 6),       // one virtual batch: plain batch norm
        Arguments.of(new int[] {6, 4, 3}, -1, 3),     // [B, T, C]: per-sample blocks
        Arguments.of(new int[] {4, 2, 3, 5}, -1, 2),  // NHWC
        Arguments.of(new int[] {4, 2, 3, 5}, -1, 4),  // NHWC, one virtual batch: one call on the whole tensor
        Arguments.of(new int[] {4, 3, 2, 2}, 1, 2),   // NCHW: one kernel call on [v, groups * C, HW]
        Arguments.of(new int[] {6, 3, 4, 2}, 2, 3));  // channel axis in the middle
  }

  /** tf.keras 2's ghost statistics: {mean[groups][C], var[groups][C]}, sample b in virtual batch b % groups. */
  static double[][][] reference(double[] x, int[] dims, int axis, int v) {
    int a = axis < 0 ? axis + dims.length : axis, groups = dims[0] / v, C = dims[a];
    int inner = 1, perSample = 1;
    for (int i = a + 1; i < dims.length; i++) inner *= dims[i];
    for (int i = 1; i < dims.length; i++) perSample *= dims[i];
    double[][] mean = new double[groups][C], var = new double[groups][C], n = new double[groups][C];
    for (int k = 0; k < x.length; k++) {
      int j = (k / perSample) % groups, c = (k / inner) % C;
      mean[j][c] += x[k];
      n[j][c]++;
    }
    for (int j = 0; j < groups; j++) for (int c = 0; c < C; c++) mean[j][c] /= n[j][c];
    for (int k = 0; k < x.length; k++) {
      int j = (k / perSample) % groups, c = (k / inner) % C;
      var[j][c] += (x[k] - mean[j][c]) * (x[k] - mean[j][c]) / n[j][c];
    }
    return new double[][][] {mean, var};
  }

  /** The training output: each element normalized with its virtual batch's statistics (finite differences perturb x in double). */
  static double[] referenceForward(double[] x, int[] dims, int axis, int v, double[] gamma, double[] beta, double eps) {
    int a = axis < 0 ? axis + dims.length : axis, groups = dims[0] / v, C = dims[a];
    int inner = 1, perSample = 1;
    for (int i = a + 1; i < dims.length; i++) inner *= dims[i];
    for (int i = 1; i < dims.length; i++) perSample *= dims[i];
    double[][][] st = reference(x, dims, axis, v);
    double[] y = new double[x.length];
    for (int k = 0; k < x.length; k++) {
      int j = (k / perSample) % groups, c = (k / inner) % C;
      y[k] = gamma[c] * (x[k] - st[0][j][c]) / Math.sqrt(st[1][j][c] + eps) + beta[c];
    }
    return y;
  }

  static void assertClose(double expected, double actual, double tol, String what) {
    if (!(Math.abs(expected - actual) <= tol)) throw new AssertionError(what + ": expected " + expected + " +- " + tol + ", got " + actual);
  }

  @Test
  void virtualBatchesInterleaveAsTfKeras2ReshapesThem() {
    // B=4, v=2: tf.keras 2's reshape [2, 2, C] groups samples {0, 2} and {1, 3}.
    BatchNormalization bn = BatchNormalization.builder().virtualBatchSize(2).momentum(0).build();
    Tensor y = bn.call(new Tensor(new int[] {4, 1}, new float[] {0, 10, 2, 20}), true);
    double s0 = Math.sqrt(1 + 1e-3), s1 = Math.sqrt(25 + 1e-3);
    assertArrayEquals(new float[] {(float) (-1 / s0), (float) (-5 / s1), (float) (1 / s0), (float) (5 / s1)}, y.data(), 1e-6f);
    // Mean of the means (1, 15) and of the variances (1, 25); the whole batch's variance would be 62.
    assertEquals(8f, bn.movingMean()[0], 1e-6f);
    assertEquals(13f, bn.movingVariance()[0], 1e-5f);
  }

  @ParameterizedTest(name = "{0} axis {1} virtual batch {2}")
  @MethodSource("cases")
  void trainingOutputsAndMovingStatisticsMatchTfKeras2(int[] dims, int axis, int v) {
    int n = Arrays.stream(dims).reduce(1, (p, q) -> p * q), C = dims[axis < 0 ? axis + dims.length : axis];
    BatchNormalization bn = BatchNormalization.builder().axis(axis).momentum(0.8).virtualBatchSize(v)
        .gammaInitializer(Initializer.randomNormal(1, 0.2, 3)).betaInitializer(Initializer.randomNormal(0, 0.5, 4)).build();
    double[] mm = new double[C], mv = new double[C];
    Arrays.fill(mv, 1);
    for (int step = 0; step < 4; step++) {
      float[] x = LayerReference.random(n, 2 + step, 3, 10 + step);
      Tensor y = bn.call(new Tensor(dims, x), true);
      double[] expected = referenceForward(LayerReference.toDouble(x), dims, axis, v, LayerReference.toDouble(bn.gamma()),
          LayerReference.toDouble(bn.beta()), (float) 1e-3);
      for (int k = 0; k < n; k++) assertClose(expected[k], y.data()[k], 1e-4, "y[" + k + "] at step " + step);
      double[][][] st = reference(LayerReference.toDouble(x), dims, axis, v);
      int groups = dims[0] / v;
      for (int c = 0; c < C; c++) {
        double m = 0, var = 0;
        for (int j = 0; j < groups; j++) {
          m += st[0][j][c] / groups;
          var += st[1][j][c] / groups;
        }
        mm[c] = mm[c] * 0.8 + m * 0.2;
        mv[c] = mv[c] * 0.8 + var * 0.2;
        assertClose(mm[c], bn.movingMean()[c], 1e-5 * Math.max(1, Math.abs(mm[c])), "moving mean[" + c + "] at step " + step);
        assertClose(mv[c], bn.movingVariance()[c], 1e-5 * Math.max(1, mv[c]), "moving variance[" + c + "] at step " + step);
      }
    }
    // Inference: moving statistics, and any batch size (one sample here).
    int[] one = dims.clone();
    one[0] = 1;
    float[] x1 = LayerReference.random(n / dims[0], 0, 2, 99);
    Tensor y1 = bn.call(new Tensor(one, x1), false);
    int[] s = LayerReference.split(one, axis);
    double[] expected = LayerReference.apply(x1, s, LayerReference.toDouble(bn.movingMean()), LayerReference.toDouble(bn.movingVariance()),
        (float) 1e-3, LayerReference.toDouble(bn.gamma()), LayerReference.toDouble(bn.beta()));
    for (int k = 0; k < x1.length; k++) assertClose(expected[k], y1.data()[k], 1e-4, "inference y[" + k + "]");
  }

  @ParameterizedTest(name = "{0} axis {1} virtual batch {2}")
  @MethodSource("cases")
  void backwardMatchesFiniteDifferencesOfTheReference(int[] dims, int axis, int v) {
    int n = Arrays.stream(dims).reduce(1, (p, q) -> p * q), C = dims[axis < 0 ? axis + dims.length : axis];
    BatchNormalization bn = BatchNormalization.builder().axis(axis).virtualBatchSize(v)
        .gammaInitializer(Initializer.randomNormal(1, 0.3, 5)).betaInitializer(Initializer.randomNormal(0, 0.5, 6)).build();
    float[] x = LayerReference.random(n, 1, 2, 21);
    float[] w = LayerReference.random(n, 0, 1, 22); // loss = sum(w * y)
    bn.call(new Tensor(dims, x), true);
    float[] dx = bn.backward(new Tensor(dims, w.clone())).data();
    double[] xd = LayerReference.toDouble(x), gamma = LayerReference.toDouble(bn.gamma()), beta = LayerReference.toDouble(bn.beta());
    double eps = (float) 1e-3, h = 1e-4;
    for (int k = 0; k < n; k++) {
      double[] xp = xd.clone(), xm = xd.clone();
      xp[k] += h;
      xm[k] -= h;
      double fd = (loss(referenceForward(xp, dims, axis, v, gamma, beta, eps), w) - loss(referenceForward(xm, dims, axis, v, gamma, beta, eps), w)) / (2 * h);
      assertClose(fd, dx[k], 2e-3 * Math.max(1, Math.abs(fd)), "dx[" + k + "]");
    }
    for (int c = 0; c < C; c++) {
      double[] gp = gamma.clone(), gm = gamma.clone(), bp = beta.clone(), bm = beta.clone();
      gp[c] += h;
      gm[c] -= h;
      bp[c] += h;
      bm[c] -= h;
      double fdGamma = (loss(referenceForward(xd, dims, axis, v, gp, beta, eps), w) - loss(referenceForward(xd, dims, axis, v, gm, beta, eps), w)) / (2 * h);
      double fdBeta = (loss(referenceForward(xd, dims, axis, v, gamma, bp, eps), w) - loss(referenceForward(xd, dims, axis, v, gamma, bm, eps), w)) / (2 * h);
      Parameter g = bn.parameters().get(0), b = bn.parameters().get(1);
      assertClose(fdGamma, g.grad()[c], 2e-3 * Math.max(1, Math.abs(fdGamma)), "dGamma[" + c + "]");
      assertClose(fdBeta, b.grad()[c], 2e-3 * Math.max(1, Math.abs(fdBeta)), "dBeta[" + c + "]");
    }
  }

  private static double loss(double[] y, float[] w) {
    double l = 0;
    for (int i = 0; i < y.length; i++) l += y[i] * w[i];
    return l;
  }

  @Test
  void fusedReluParallelAndUnbiasedMovingVarianceFollowTheVirtualBatches() {
    int[] dims = {8, 6};
    float[] x = LayerReference.random(48, 0, 1, 31), w = LayerReference.random(48, 0, 1, 32);
    BatchNormalization plain = BatchNormalization.builder().virtualBatchSize(4).momentum(0).build();
    BatchNormalization relu = BatchNormalization.builder().virtualBatchSize(4).momentum(0).activation("relu")
        .movingVariance(MovingVariance.UNBIASED).build();
    float[] y = plain.call(new Tensor(dims, x), true).data();
    float[] yr = relu.call(new Tensor(dims, x), true).data();
    float[] masked = w.clone();
    for (int i = 0; i < y.length; i++) {
      assertEquals(Math.max(0f, y[i]), yr[i], 1e-6f, "relu y[" + i + "]");
      if (y[i] <= 0) masked[i] = 0;
    }
    assertArrayEquals(plain.backward(new Tensor(dims, masked)).data(), relu.backward(new Tensor(dims, w)).data(), 1e-6f);
    // Unbiased: the averaged per-virtual-batch variance times n/(n-1) with n = 4 samples per virtual batch.
    for (int c = 0; c < 6; c++) assertEquals(plain.movingVariance()[c] * 4f / 3f, relu.movingVariance()[c], 1e-5f);
    try (ParallelBatchNorm pool = new ParallelBatchNorm(2)) {
      BatchNormalization par = BatchNormalization.builder().virtualBatchSize(4).momentum(0).parallel(pool).build();
      assertArrayEquals(y, par.call(new Tensor(dims, x), true).data(), 1e-5f);
      assertArrayEquals(plain.backward(new Tensor(dims, w)).data(), par.backward(new Tensor(dims, w)).data(), 1e-5f);
    }
    assertFalse(plain.fusesAddRelu(), "callAddRelu takes whole-batch statistics");
  }

  @Test
  void batchNotAMultipleFailsBeforeAnyStateChanges() {
    BatchNormalization bn = BatchNormalization.builder().virtualBatchSize(4).momentum(0.5).build();
    float[] x = LayerReference.random(24, 1, 2, 41), w = LayerReference.random(24, 0, 1, 42);
    bn.call(new Tensor(new int[] {8, 3}, x), true);
    float[] mm = bn.movingMean().clone(), mv = bn.movingVariance().clone(), gamma = bn.gamma().clone();
    float[] expectedDx = bn.backward(new Tensor(new int[] {8, 3}, w)).data();
    bn.parameters().forEach(Parameter::zeroGrad);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> bn.call(new Tensor(new int[] {6, 3}, LayerReference.random(18, 0, 1, 43)), true));
    assertTrue(e.getMessage().contains("virtualBatchSize=4") && e.getMessage().contains("got 6"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> bn.call(new Tensor(new int[] {0, 3}, new float[0]), true));
    assertArrayEquals(mm, bn.movingMean());
    assertArrayEquals(mv, bn.movingVariance());
    assertArrayEquals(gamma, bn.gamma());
    // The backward cache still holds the last good call.
    assertArrayEquals(expectedDx, bn.backward(new Tensor(new int[] {8, 3}, w)).data());
    // Inference and frozen layers take any batch size.
    assertEquals(18, bn.call(new Tensor(new int[] {6, 3}, new float[18]), false).data().length);
    bn.setTrainable(false);
    assertEquals(18, bn.call(new Tensor(new int[] {6, 3}, new float[18]), true).data().length);
    assertArrayEquals(mm, bn.movingMean());
  }

  @Test
  void unsupportedCombinationsAreRefusedByName() {
    assertThrows(IllegalArgumentException.class, () -> BatchNormalization.builder().virtualBatchSize(0).build());
    assertThrows(IllegalArgumentException.class, () -> BatchNormalization.builder().virtualBatchSize(-2).build());
    IllegalArgumentException renorm = assertThrows(IllegalArgumentException.class,
        () -> BatchNormalization.builder().virtualBatchSize(2).renorm(true).build());
    assertTrue(renorm.getMessage().contains("renorm"), renorm.getMessage());
    assertThrows(IllegalArgumentException.class, () -> BatchNormalization.builder().virtualBatchSize(2).isSynchronized(true).build());
    IllegalArgumentException axis0 = assertThrows(IllegalArgumentException.class,
        () -> BatchNormalization.builder().virtualBatchSize(2).axis(0).build().build(new int[] {4, 3}));
    assertTrue(axis0.getMessage().contains("axis cannot be 0"), axis0.getMessage());
    assertThrows(IllegalArgumentException.class, () -> BatchNormalization.builder().virtualBatchSize(2).axis(-2).build().build(new int[] {4, 3}));
    BatchNormalization bn = BatchNormalization.builder().virtualBatchSize(2).build();
    bn.call(new Tensor(new int[] {4, 3}, new float[12]), false);
    float[] mm = bn.movingMean().clone();
    IllegalArgumentException mask = assertThrows(IllegalArgumentException.class,
        () -> bn.call(new Tensor(new int[] {4, 3}, LayerReference.random(12, 3, 1, 5)), true, new boolean[] {true, true, true, false}));
    assertTrue(mask.getMessage().contains("mask"), mask.getMessage());
    assertArrayEquals(mm, bn.movingMean());
  }

  @Test
  @SuppressWarnings("unchecked")
  void configWritesVirtualBatchSizeOnlyWhenSetAndKeras3ExportRefusesIt() {
    assertFalse(BatchNormalization.create().getConfig().containsKey("virtual_batch_size"));
    BatchNormalization bn = BatchNormalization.builder().name("ghost").virtualBatchSize(32).build();
    assertEquals(32.0, bn.getConfig().get("virtual_batch_size"));
    String json = Json.write(bn.getConfig());
    BatchNormalization copy = BatchNormalization.fromConfig((Map<String, Object>) Json.parse(json));
    assertEquals(32, copy.virtualBatchSize());
    assertEquals(json, Json.write(copy.getConfig()));
    IllegalStateException e = assertThrows(IllegalStateException.class, bn::kerasConfig);
    assertTrue(e.getMessage().contains("virtual_batch_size") && e.getMessage().contains("Keras 3"), e.getMessage());
    // tf.keras 2's config: virtual_batch_size as null or an int.
    Map<String, Object> tfKeras = new LinkedHashMap<>(BatchNormalization.create().getConfig());
    tfKeras.put("virtual_batch_size", null);
    assertNull(BatchNormalization.fromConfig(tfKeras).virtualBatchSize());
    tfKeras.put("virtual_batch_size", 8);
    assertEquals(8, BatchNormalization.fromConfig(tfKeras).virtualBatchSize());
    for (Object bad : List.of(2.5, 0.0, "4")) {
      tfKeras.put("virtual_batch_size", bad);
      assertThrows(IllegalArgumentException.class, () -> BatchNormalization.fromConfig(tfKeras), String.valueOf(bad));
    }
  }
}
