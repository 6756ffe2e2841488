package dev.vecnorm.layers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The Keras layer against {@link LayerReference} in double. Tolerances: outputs within 1e-4 absolute
 * (they are O(1)); moving statistics within 1e-5 relative; gradients within 1e-3 of finite differences.
 */
class BatchNormalizationTest {

  static Stream<Arguments> shapesAndAxes() {
    return Stream.of(
        Arguments.of(new int[] {6, 5}, -1), Arguments.of(new int[] {6, 5}, 1), Arguments.of(new int[] {6, 5}, 0),
        Arguments.of(new int[] {4, 3, 7}, -1), Arguments.of(new int[] {4, 3, 7}, 1),
        Arguments.of(new int[] {2, 3, 4, 5}, -1), Arguments.of(new int[] {2, 3, 4, 5}, 1), Arguments.of(new int[] {2, 3, 4, 5}, 2));
  }

  static void assertClose(double[] expected, float[] actual, double tol, String what) {
    assertEquals(expected.length, actual.length, what + " length");
    for (int i = 0; i < expected.length; i++) {
      if (!(Math.abs(expected[i] - actual[i]) <= tol)) {
        throw new AssertionError(what + "[" + i + "]: expected " + expected[i] + " +- " + tol + ", got " + actual[i]);
      }
    }
  }

  @ParameterizedTest(name = "{0} axis {1}")
  @MethodSource("shapesAndAxes")
  void trainingAndInferenceMatchKerasFormulasAfterSeveralUpdates(int[] dims, int axis) {
    int[] s = LayerReference.split(dims, axis);
    int n = s[0] * s[1] * s[2], C = s[1];
    BatchNormalization bn = BatchNormalization.builder().axis(axis).momentum(0.9)
        .gammaInitializer(Initializer.randomNormal(1, 0.2, 3)).betaInitializer(Initializer.randomNormal(0, 0.5, 4)).build();
    double[] mm = new double[C], mv = new double[C];
    java.util.Arrays.fill(mv, 1);
    for (int step = 0; step < 4; step++) {
      float[] x = LayerReference.random(n, 2 + step, 3, 10 + step);
      Tensor y = bn.call(new Tensor(dims, x), true);
      double[][] st = LayerReference.moments(x, s, null);
      double[] expected = LayerReference.apply(x, s, st[0], st[1], 1e-3, LayerReference.toDouble(bn.gamma()), LayerReference.toDouble(bn.beta()));
      assertClose(expected, y.data(), 1e-4, "training y at step " + step);
      for (int c = 0; c < C; c++) {
        mm[c] = mm[c] * 0.9 + st[0][c] * 0.1;
        mv[c] = mv[c] * 0.9 + st[1][c] * 0.1;
      }
      assertClose(mm, bn.movingMean(), 1e-5 * 10, "moving mean");
      assertClose(mv, bn.movingVariance(), 1e-5 * 10, "moving variance");
    }
    float[] x = LayerReference.random(n, -1, 2, 99);
    Tensor y = bn.call(new Tensor(dims, x), false);
    double[] expected = LayerReference.apply(x, s, mm, mv, 1e-3, LayerReference.toDouble(bn.gamma()), LayerReference.toDouble(bn.beta()));
    assertClose(expected, y.data(), 1e-4, "inference y");
  }

  @Test
  void untrainableLayerRunsInInferenceModeEvenWhenTrainingAndUpdatesNothing() {
    BatchNormalization bn = BatchNormalization.builder().trainable(false).build();
    float[] x = LayerReference.random(40, 5, 2, 1);
    Tensor y = bn.call(new Tensor(new int[] {10, 4}, x), true);
    double[] zeros = new double[4], ones = {1, 1, 1, 1};
    assertClose(LayerReference.apply(x, new int[] {10, 4, 1}, zeros, ones, 1e-3, ones, zeros), y.data(), 1e-5, "frozen y");
    assertArrayEquals(new float[4], bn.movingMean());
    assertArrayEquals(new float[] {1, 1, 1, 1}, bn.movingVariance());
    bn.backward(new Tensor(new int[] {10, 4}, LayerReference.random(40, 0, 1, 2)));
    assertArrayEquals(new float[4], bn.trainableParameters().isEmpty() ? new float[4] : bn.trainableParameters().get(0).grad());
    assertTrue(bn.trainableParameters().isEmpty(), "no trainable weights when frozen");
  }

  @Test
  void maskLimitsStatisticsToKeptPositionsAndAllMaskedLeavesMovingStatistics() {
    int[] dims = {3, 4, 2};
    float[] x = LayerReference.random(24, 1, 2, 5);
    boolean[] mask = {true, false, true, true, false, true, true, true, false, false, true, true};
    BatchNormalization bn = BatchNormalization.create();
    Tensor y = bn.call(new Tensor(dims, x), true, mask);
    int[] s = {12, 2, 1};
    double[][] st = LayerReference.moments(x, s, mask);
    assertClose(LayerReference.apply(x, s, st[0], st[1], 1e-3, new double[] {1, 1}, new double[2]), y.data(), 1e-4, "masked y");
    double[] expectedMean = {st[0][0] * 0.01, st[0][1] * 0.01};
    assertClose(expectedMean, bn.movingMean(), 1e-6, "moving mean from masked statistics");

    float[] before = bn.movingMean().clone(), beforeVar = bn.movingVariance().clone();
    bn.call(new Tensor(dims, x), true, new boolean[12]);
    assertArrayEquals(before, bn.movingMean());
    assertArrayEquals(beforeVar, bn.movingVariance());
    assertThrows(IllegalArgumentException.class, () -> bn.call(new Tensor(dims, x), true, new boolean[5]));
  }

  @Test
  void renormMatchesThePaperFormulasWithClipping() {
    int[] dims = {8, 3};
    BatchNormalization bn = BatchNormalization.builder().renorm(true).renormClipping(1.5, 0.8, 0.3).renormMomentum(0.5).build();
    double[] rm = new double[3], rs = {1, 1, 1}, mm = new double[3], mv = {1, 1, 1};
    for (int step = 0; step < 3; step++) {
      float[] x = LayerReference.random(24, 0.4 * step, 0.5 + step, 20 + step);
      Tensor y = bn.call(new Tensor(dims, x), true);
      double[][] st = LayerReference.moments(x, new int[] {8, 3, 1}, null);
      double[] scale = new double[3], shift = new double[3];
      for (int c = 0; c < 3; c++) {
        double std = Math.sqrt(st[1][c] + 1e-3), rstd = Math.max(rs[c], Math.sqrt(1e-3));
        double r = Math.max(0.8, Math.min(1.5, std / rstd)), d = Math.max(-0.3, Math.min(0.3, (st[0][c] - rm[c]) / rstd));
        scale[c] = r;
        shift[c] = d;
        rm[c] = rm[c] * 0.5 + st[0][c] * 0.5;
        rs[c] = rs[c] * 0.5 + std * 0.5;
        mm[c] = mm[c] * 0.99 + st[0][c] * 0.01;
        mv[c] = mv[c] * 0.99 + st[1][c] * 0.01;
      }
      assertClose(LayerReference.apply(x, new int[] {8, 3, 1}, st[0], st[1], 1e-3, scale, shift), y.data(), 1e-4, "renorm y step " + step);
      assertClose(mm, bn.movingMean(), 1e-5, "moving mean");
      assertClose(mv, bn.movingVariance(), 1e-5, "moving variance");
    }
    List<float[]> w = bn.getWeights();
    assertEquals(6, w.size(), "gamma, beta, moving mean/variance, renorm mean/stddev");
    assertClose(rm, w.get(4), 1e-5, "renorm mean");
    assertClose(rs, w.get(5), 1e-5, "renorm stddev");
  }

  static Stream<Arguments> gradientCases() {
    return Stream.of(Arguments.of("plain", false, false), Arguments.of("renorm", true, false), Arguments.of("mask", false, true));
  }

  /** Central differences of sum(w * y) in double through a fresh layer per evaluation (r, d held fixed). */
  @ParameterizedTest(name = "{0}")
  @MethodSource("gradientCases")
  void backwardMatchesFiniteDifferences(String label, boolean renorm, boolean masked) {
    int[] dims = {5, 2, 3};
    int n = 30;
    float[] x = LayerReference.random(n, 0.5, 1.5, 7), w = LayerReference.random(n, 0, 1, 8);
    boolean[] mask = masked ? new boolean[] {true, true, false, true, true, false, true, true, true, false, true, true, true, false, true} : null;
    // Renorm's r and d carry no gradient, so the finite differences hold them at their unperturbed values.
    int[] split = {5, 2, 3};
    double[][] st0 = LayerReference.moments(x, split, null);
    double[] r = new double[2], d = new double[2];
    for (int c = 0; c < 2; c++) {
      double std = Math.sqrt(st0[1][c] + 1e-3);
      r[c] = Math.min(std, 1.2); // fresh layer: renorm mean 0, renorm stddev 1; clipping rmax 1.2, dmax 0.1
      d[c] = Math.max(-0.1, Math.min(0.1, st0[0][c]));
    }
    java.util.function.Function<double[], double[]> forward = xs -> {
      float[] xf = new float[n];
      for (int i = 0; i < n; i++) xf[i] = (float) xs[i];
      if (!renorm) return LayerReference.toDouble(layer(false).call(new Tensor(dims, xf), true, mask).data());
      double[][] st = LayerReference.moments(xf, split, null);
      return LayerReference.apply(xf, split, st[0], st[1], 1e-3, new double[] {1.3 * r[0], 1.3 * r[1]},
          new double[] {1.3 * d[0] - 0.2, 1.3 * d[1] - 0.2});
    };
    BatchNormalization bn = layer(renorm);
    bn.call(new Tensor(dims, x), true, mask);
    Tensor dx = bn.backward(new Tensor(dims, w));
    double[] xd = LayerReference.toDouble(x);
    double h = 1e-2; // float32 forward: a larger step keeps rounding noise below the tolerance
    for (int i = 0; i < n; i++) {
      double saved = xd[i];
      xd[i] = saved + h;
      double up = dot(w, forward.apply(xd));
      xd[i] = saved - h;
      double down = dot(w, forward.apply(xd));
      xd[i] = saved;
      double fd = (up - down) / (2 * h);
      assertTrue(Math.abs(fd - dx.data()[i]) <= 2e-3 * (1 + Math.abs(fd)), label + " dx[" + i + "]: fd " + fd + " vs " + dx.data()[i]);
    }
    // dBeta = sum(dy) and dGamma = sum(dy * (r*xhat + d)) by the chain rule: check against a perturbed gamma.
    float[] gGrad = bn.trainableParameters().get(0).grad().clone();
    for (int c = 0; c < 2; c++) {
      final int ch = c;
      double[] res = new double[2];
      for (int sgn = 0; sgn < 2; sgn++) {
        BatchNormalization p = layer(renorm);
        p.call(new Tensor(dims, x), false); // build
        p.gamma()[ch] += sgn == 0 ? 1e-2f : -1e-2f;
        res[sgn] = dot(w, LayerReference.toDouble(p.call(new Tensor(dims, x), true, mask).data()));
      }
      double fd = (res[0] - res[1]) / 2e-2;
      assertTrue(Math.abs(fd - gGrad[ch]) <= 2e-3 * (1 + Math.abs(fd)), label + " dGamma[" + ch + "]: fd " + fd + " vs " + gGrad[ch]);
    }
  }

  static BatchNormalization layer(boolean renorm) {
    return BatchNormalization.builder().axis(1).renorm(renorm).renormClipping(renorm ? 1.2 : null, null, renorm ? 0.1 : null)
        .gammaInitializer(Initializer.constant(1.3)).betaInitializer(Initializer.constant(-0.2)).build();
  }

  static double dot(float[] w, double[] y) {
    double s = 0;
    for (int i = 0; i < w.length; i++) s += w[i] * y[i];
    return s;
  }

  @Test
  void configRoundTripsThroughJson() {
    BatchNormalization bn = BatchNormalization.builder().axis(1).momentum(0.9).epsilon(1e-5).center(false)
        .gammaRegularizer(Regularizer.l1l2(0.01, 0.02)).betaRegularizer(Regularizer.l2(0.1))
        .gammaConstraint(Constraint.minMaxNorm(0.5, 2, 0.7)).betaConstraint(Constraint.nonNeg())
        .renorm(true).renormClipping(3.0, 0.5, 1.0).renormMomentum(0.8).name("bn_1").build();
    LayerReference.assertConfigRoundTrip(bn, BatchNormalization::fromConfig, List.of("axis", "momentum", "epsilon", "center", "scale",
        "beta_initializer", "gamma_initializer", "moving_mean_initializer", "moving_variance_initializer", "beta_regularizer",
        "gamma_regularizer", "beta_constraint", "gamma_constraint", "renorm", "renorm_clipping", "renorm_momentum", "synchronized",
        "trainable", "name", "dtype"));
    assertThrows(IllegalArgumentException.class, () -> BatchNormalization.fromConfig(Map.of("axsi", 1.0)));
  }

  @Test
  void weightsRoundTripInKerasOrderAndBadSizesChangeNothing() {
    BatchNormalization bn = BatchNormalization.create();
    bn.build(new int[] {2, 3});
    List<float[]> w = List.of(new float[] {1, 2, 3}, new float[] {4, 5, 6}, new float[] {7, 8, 9}, new float[] {10, 11, 12});
    bn.setWeights(w);
    List<float[]> got = bn.getWeights();
    for (int i = 0; i < 4; i++) assertArrayEquals(w.get(i), got.get(i));
    assertThrows(IllegalArgumentException.class, () -> bn.setWeights(List.of(new float[3], new float[3], new float[3], new float[2])));
    assertThrows(IllegalArgumentException.class, () -> bn.setWeights(List.of(new float[3])));
    for (int i = 0; i < 4; i++) assertArrayEquals(w.get(i), bn.getWeights().get(i), "unchanged after a rejected set");

    BatchNormalization noAffine = BatchNormalization.builder().center(false).scale(false).build();
    noAffine.build(new int[] {2, 3});
    assertEquals(2, noAffine.getWeights().size(), "only moving statistics without gamma and beta");
  }

  @Test
  void validationAtConstructionAndRebuild() {
    assertThrows(IllegalArgumentException.class, () -> BatchNormalization.builder().momentum(1.5).build());
    assertThrows(IllegalArgumentException.class, () -> BatchNormalization.builder().epsilon(0).build());
    assertThrows(IllegalArgumentException.class, () -> BatchNormalization.builder().renormClipping(0.5, null, null).build());
    assertThrows(IllegalArgumentException.class, () -> BatchNormalization.builder().renormClipping(null, 1.5, null).build());
    assertThrows(IllegalArgumentException.class, () -> BatchNormalization.builder().renormClipping(null, null, -1.0).build());
    IllegalArgumentException dtype = assertThrows(IllegalArgumentException.class, () -> BatchNormalization.builder().dtype("float16").build());
    assertTrue(dtype.getMessage().contains("float32"));
    BatchNormalization bn = BatchNormalization.create();
    bn.build(new int[] {4, 3});
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> bn.build(new int[] {4, 5}));
    assertTrue(e.getMessage().contains("3") && e.getMessage().contains("5"), e.getMessage());
  }

  @Test
  void failedCallLeavesWeightsAndMovingStatisticsUnchanged() {
    BatchNormalization bn = BatchNormalization.create();
    bn.call(new Tensor(new int[] {4, 3}, LayerReference.random(12, 1, 1, 1)), true);
    List<float[]> before = bn.getWeights();
    assertThrows(IllegalArgumentException.class, () -> bn.call(new Tensor(new int[] {2, 5}, new float[10]), true));
    assertThrows(IllegalArgumentException.class, () -> bn.call(new Tensor(new int[] {4, 3}, new float[12]), true, new boolean[3]));
    for (int i = 0; i < before.size(); i++) assertArrayEquals(before.get(i), bn.getWeights().get(i));
  }

  /**
   * N replicas on threads, each with 1/N of the batch, against one layer with the whole batch: outputs
   * and input gradients per slice, and the replicas' summed gamma/beta gradients, agree to 1e-5
   * (the merge order of the statistics differs; nothing else does).
   */
  @Test
  void synchronizedReplicasEqualOneReplicaWithTheWholeBatch() throws Exception {
    int replicas = 4, rowsEach = 6, C = 5;
    int[] whole = {replicas * rowsEach, C};
    float[] x = LayerReference.random(replicas * rowsEach * C, 3, 2, 11), dy = LayerReference.random(x.length, 0, 1, 12);
    BatchNormalization single = BatchNormalization.builder().momentum(0.9).build();
    Tensor ySingle = single.call(new Tensor(whole, x), true);
    Tensor dxSingle = single.backward(new Tensor(whole, dy));

    InProcessStatisticsReducer group = new InProcessStatisticsReducer(replicas, 30);
    List<BatchNormalization> layers = new ArrayList<>();
    for (int r = 0; r < replicas; r++) layers.add(BatchNormalization.builder().momentum(0.9).synchronizedWith(group.replica(r)).build());
    ExecutorService pool = Executors.newFixedThreadPool(replicas);
    try {
      List<Future<float[][]>> results = new ArrayList<>();
      for (int r = 0; r < replicas; r++) {
        final int id = r;
        results.add(pool.submit(() -> {
          int[] part = {rowsEach, C};
          float[] xs = java.util.Arrays.copyOfRange(x, id * rowsEach * C, (id + 1) * rowsEach * C);
          float[] gs = java.util.Arrays.copyOfRange(dy, id * rowsEach * C, (id + 1) * rowsEach * C);
          Tensor y = layers.get(id).call(new Tensor(part, xs), true);
          Tensor dx = layers.get(id).backward(new Tensor(part, gs));
          return new float[][] {y.data(), dx.data()};
        }));
      }
      float[] dGammaSum = new float[C], dBetaSum = new float[C];
      for (int r = 0; r < replicas; r++) {
        float[][] out = results.get(r).get();
        for (int i = 0; i < rowsEach * C; i++) {
          assertEquals(ySingle.data()[r * rowsEach * C + i], out[0][i], 1e-5, "y of replica " + r);
          assertEquals(dxSingle.data()[r * rowsEach * C + i], out[1][i], 1e-5, "dx of replica " + r);
        }
        for (int c = 0; c < C; c++) {
          dGammaSum[c] += layers.get(r).trainableParameters().get(0).grad()[c];
          dBetaSum[c] += layers.get(r).trainableParameters().get(1).grad()[c];
        }
        assertArrayEquals(single.movingMean(), layers.get(r).movingMean(), 1e-5f);
        assertArrayEquals(single.movingVariance(), layers.get(r).movingVariance(), 1e-5f);
      }
      assertArrayEquals(single.trainableParameters().get(0).grad(), dGammaSum, 1e-4f);
      assertArrayEquals(single.trainableParameters().get(1).grad(), dBetaSum, 1e-4f);
    } finally {
      pool.shutdownNow();
    }
  }

  /** activation("relu") fuses BN and ReLU; it must equal BN followed by a separate ReLU layer. */
  @Test
  void fusedReluOptionEqualsBatchNormThenRelu() {
    int[] dims = {16, 7};
    float[] x = LayerReference.random(112, 0.3, 1.2, 31), dy = LayerReference.random(112, 0, 1, 32);
    BatchNormalization fused = BatchNormalization.builder().activation("relu").build();
    BatchNormalization plain = BatchNormalization.create();
    Activation relu = Activation.relu();
    for (boolean training : new boolean[] {true, false}) {
      Tensor yf = fused.call(new Tensor(dims, x), training);
      Tensor yp = relu.call(plain.call(new Tensor(dims, x), training), training);
      assertArrayEquals(yp.data(), yf.data(), 1e-6f, "forward, training=" + training);
      Tensor dxf = fused.backward(new Tensor(dims, dy));
      Tensor dxp = plain.backward(relu.backward(new Tensor(dims, dy)));
      assertArrayEquals(dxp.data(), dxf.data(), 1e-5f, "backward, training=" + training);
    }
    assertArrayEquals(plain.trainableParameters().get(0).grad(), fused.trainableParameters().get(0).grad(), 1e-4f);
    assertEquals("relu", fused.getConfig().get("activation"));
    assertThrows(IllegalArgumentException.class, () -> BatchNormalization.builder().activation("gelu"));
  }

  /** A layer on 1 or 3 threads gives the same bits. */
  @Test
  void parallelLayerIsThreadCountIndependent() {
    int[] dims = {4000, 70};
    float[] x = LayerReference.random(dims[0] * dims[1], 1, 2, 41), dy = LayerReference.random(x.length, 0, 1, 42);
    float[][] outputs = new float[2][];
    int i = 0;
    for (int threads : new int[] {1, 3}) {
      try (dev.vecnorm.ParallelBatchNorm p = new dev.vecnorm.ParallelBatchNorm(threads)) {
        BatchNormalization bn = BatchNormalization.builder().activation("relu").parallel(p).build();
        float[] y = bn.call(new Tensor(dims, x), true).data();
        float[] dx = bn.backward(new Tensor(dims, dy)).data();
        float[] yInf = bn.call(new Tensor(dims, x), false).data();
        float[] all = new float[3 * x.length];
        System.arraycopy(y, 0, all, 0, x.length);
        System.arraycopy(dx, 0, all, x.length, x.length);
        System.arraycopy(yInf, 0, all, 2 * x.length, x.length);
        outputs[i++] = all;
      }
    }
    assertArrayEquals(outputs[0], outputs[1]);
  }

  @Test
  void regularizersAndConstraintsFollowKeras() {
    float[] w = {3, -4};
    Regularizer r = Regularizer.l1l2(0.1, 0.01);
    assertEquals(0.1 * 7 + 0.01 * 25, r.loss(w), 1e-9);
    float[] g = new float[2];
    r.addGradient(w, g);
    assertArrayEquals(new float[] {0.1f + 0.06f, -0.1f - 0.08f}, g, 1e-6f);
    float[] a = {3, -4};
    Constraint.maxNorm(1).apply(a);
    assertArrayEquals(new float[] {0.6f, -0.8f}, a, 1e-5f);
    float[] b = {3, -4};
    Constraint.nonNeg().apply(b);
    assertArrayEquals(new float[] {3, 0}, b);
    float[] u = {3, -4};
    Constraint.unitNorm().apply(u);
    assertArrayEquals(new float[] {0.6f, -0.8f}, u, 1e-5f);
    float[] mm = {3, -4}; // norm 5 -> rate 0.5 * 2 + 0.5 * 5 = 3.5
    Constraint.minMaxNorm(0, 2, 0.5).apply(mm);
    assertArrayEquals(new float[] {3 * 0.7f, -4 * 0.7f}, mm, 1e-5f);
    assertNotNull(Constraint.fromConfig(Constraint.maxNorm(2).toConfig()));
    assertFalse(Regularizer.fromConfig(r.toConfig()) == null);
  }
}
