package dev.vecnorm;

import static dev.vecnorm.KernelsTest.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.vecnorm.internal.FusedReluSupport;
import dev.vecnorm.internal.VectorizationProvider;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Fused BN + (add) + ReLU against the unfused composition in double: forward within 2e-4 of the
 * magnitude of its terms; backward with the mask taken from the fused output, within 2e-4 as
 * {@link KernelsTest}.
 */
class BatchNormReluTest {
  static final float EPS = 1e-3f;

  static Stream<Arguments> cases() {
    List<FusedReluSupport> impls = new ArrayList<>(List.of(VectorizationProvider.scalarFusedRelu()));
    VectorizationProvider.panamaFusedRelu().ifPresent(impls::add);
    List<Arguments> out = new ArrayList<>();
    for (FusedReluSupport f : impls) {
      // Channels-last: super rows (whole rows and vectors) with and without the four-at-a-time steps and rows left over,
      // one channel, rows that are one super row (256 channels: the row loop; 512 with seven rows: four a step, then three
      // one at a time; 1101x256: past L2, two halves side by side and a row left over), ragged rows too wide for super
      // rows, patterns held in registers (64 channels: four vectors, 48: three); channels-first: planes with two-vector
      // steps, one vector and scalar tails.
      for (NormShape s : new NormShape[] {NormShape.channelsLast(37, 19), NormShape.channelsLast(5, 64), NormShape.channelsFirst(3, 5, 53),
          NormShape.channelsFirst(2, 4, 1), NormShape.channelsLast(301, 17), NormShape.channelsLast(1100, 1), NormShape.channelsLast(70, 256),
          NormShape.channelsLast(9, 1023), NormShape.channelsLast(7, 512), NormShape.channelsLast(1101, 256), NormShape.channelsLast(33, 48),
          NormShape.channelsFirst(3, 5, 200), NormShape.channelsFirst(2, 3, 17), NormShape.channelsFirst(3, 2, 2600)}) {
        for (boolean residual : new boolean[] {false, true}) out.add(Arguments.of(f.getClass().getSimpleName(), f, s, residual));
      }
    }
    return out.stream();
  }

  /**
   * The channel walk ({@code backwardRelu}: each channel reduced then applied) gives the bits of the reduce over the whole
   * tensor followed by the apply, with and without dResidual, out of place and with dx in place of dy.
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("walkShapes")
  void channelWalkGivesReduceThenApplysBits(NormShape s) {
    FusedReluSupport fused = VectorizationProvider.panamaFusedRelu().orElse(null);
    org.junit.jupiter.api.Assumptions.assumeTrue(fused != null, "no Vector API implementation");
    int n = (int) s.size(), C = s.channels();
    float[] x = Reference.data(s, 0, 41), y = Reference.data(s, 0, 42), dy = Reference.data(s, 0, 43);
    float[] gamma = Reference.perChannel(C, 1, 0.5, 44), mean = Reference.perChannel(C, 0, 0.1, 45), inv = Reference.perChannel(C, 1, 0.2, 46);
    for (boolean withResidual : new boolean[] {false, true}) {
      float[] dx = new float[n], dRes = withResidual ? new float[n] : null, sDy = new float[C], sDyX = new float[C];
      fused.backwardReduceRelu(x, 0, y, 0, dy, 0, s.outer(), C, s.inner(), mean, inv, sDy, sDyX);
      fused.backwardApplyRelu(x, 0, y, 0, dy, 0, dx, 0, dRes, 0, s.outer(), C, s.inner(), mean, inv, gamma, sDy, sDyX, s.countPerChannel());
      float[] dx2 = new float[n], dRes2 = withResidual ? new float[n] : null, sDy2 = new float[C], sDyX2 = new float[C];
      org.junit.jupiter.api.Assertions.assertTrue(fused.backwardRelu(x, 0, y, 0, dy, 0, dx2, 0, dRes2, 0, s.outer(), C, s.inner(), mean,
          inv, gamma, sDy2, sDyX2, s.countPerChannel()), s + " takes the channel walk");
      assertArrayEquals(sDy, sDy2, "sumDy");
      assertArrayEquals(sDyX, sDyX2, "sumDyXhat");
      assertArrayEquals(dx, dx2, "dx");
      if (withResidual) assertArrayEquals(dRes, dRes2, "dResidual");
      float[] inPlace = dy.clone(), sDy3 = new float[C], sDyX3 = new float[C];
      fused.backwardRelu(x, 0, y, 0, inPlace, 0, inPlace, 0, null, 0, s.outer(), C, s.inner(), mean, inv, gamma, sDy3, sDyX3,
          s.countPerChannel());
      assertArrayEquals(dx, inPlace, "dx in place of dy");
    }
  }

  static Stream<NormShape> walkShapes() {
    return Stream.of(NormShape.channelsFirst(3, 2, 2600), NormShape.channelsFirst(2, 3, 3136 + 5), NormShape.channelsFirst(1, 2, 2561));
  }

  @ParameterizedTest(name = "{0} {2} residual={3}")
  @MethodSource("cases")
  void fusedEqualsComposition(String name, FusedReluSupport fused, NormShape s, boolean withResidual) {
    int n = (int) s.size(), C = s.channels();
    Kernels k = new Kernels(VectorizationProvider.scalar());
    float[] x = Reference.data(s, 0, 21), res = withResidual ? Reference.data(s, 0, 22) : null, dy = Reference.data(s, 0, 23);
    float[] gamma = Reference.perChannel(C, 1, 0.5, 24), beta = Reference.perChannel(C, 0, 1, 25);
    float[] y = new float[n], mean = new float[C], var = new float[C], inv = new float[C];
    BatchNormRelu.forwardTraining(k, fused, s, x, 0, res, 0, gamma, beta, EPS, y, 0, mean, var, inv);
    double[][] st = Reference.moments(s, x, 0);
    double[] bn = Reference.normalize(s, x, 0, st[0], st[1], EPS, gamma, beta);
    for (int i = 0; i < n; i++) {
      double expected = Math.max(0, bn[i] + (res == null ? 0 : res[i]));
      assertClose("y[" + i + "]", expected, y[i], 2e-4 * (1 + Math.abs(bn[i]) + (res == null ? 0 : Math.abs(res[i]))));
    }
    float[] dx = new float[n], dRes = withResidual ? new float[n] : null, dGamma = new float[C], dBeta = new float[C];
    BatchNormRelu.backward(fused, s, x, 0, y, 0, dy, 0, gamma, mean, inv, dx, 0, dRes, 0, dGamma, dBeta);
    float[] g = new float[n];
    for (int i = 0; i < n; i++) g[i] = y[i] > 0 ? dy[i] : 0f;
    if (withResidual) assertArrayEquals(g, dRes, "dResidual is the masked gradient");
    double[][] ref = Reference.backward(s, x, 0, g, 0, gamma, EPS);
    double scale = 0;
    for (double v : ref[0]) scale = Math.max(scale, Math.abs(v));
    for (int i = 0; i < n; i++) assertClose("dx[" + i + "]", ref[0][i], dx[i], 2e-4 * (1 + scale));
    for (int c = 0; c < C; c++) {
      assertClose("dGamma[" + c + "]", ref[1][c], dGamma[c], 2e-4 * (1 + Math.abs(ref[1][c])) * Math.sqrt(s.countPerChannel()));
      assertClose("dBeta[" + c + "]", ref[2][c], dBeta[c], 2e-4 * (1 + Math.abs(ref[2][c])) * Math.sqrt(s.countPerChannel()));
    }
    float[] yInf = new float[n], movingVar = Reference.perChannel(C, 2, 0.3, 26);
    for (int c = 0; c < C; c++) movingVar[c] = Math.abs(movingVar[c]);
    BatchNormRelu.forwardInference(fused, s, x, 0, res, 0, gamma, beta, mean, movingVar, EPS, yInf, 0);
    double[] bnInf = Reference.normalize(s, x, 0, KernelsTest.toDouble(mean), KernelsTest.toDouble(movingVar), EPS, gamma, beta);
    for (int i = 0; i < n; i++) {
      assertClose("inference y[" + i + "]", Math.max(0, bnInf[i] + (res == null ? 0 : res[i])), yInf[i], 2e-4 * (1 + Math.abs(bnInf[i])));
    }
    assertThrows(IllegalArgumentException.class,
        () -> BatchNormRelu.backward(fused, s, x, 0, y, 0, dy, 0, gamma, mean, inv, dx, 0, dx, 0, dGamma, dBeta));
  }
}
