package dev.vecnorm;

import static dev.vecnorm.KernelsTest.assertClose;

import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Channels-last shapes whose channel count is a multiple of the lanes and at least a super row (256, 512, 1024 on
 * 8 or 16 lanes), so the vector kernels take their one-position-per-channel fold (mean = pivot + running mean,
 * variance = M2 / rows) and the backward's per-channel {@code sumDyXhat * invStd}: both are once-a-call loops kept in
 * scalar Java (so that a large tensor's few calls do not run them as Vector API objects in C1). On benign data the
 * float results sit within a few float roundings of the double reference, so the tolerances here (1e-5 relative)
 * are tight enough that a wrong divisor or factor off by 1e-4 fails, which NumericsTest's 1e-3 on hard data
 * would let through.
 */
class ChannelsLastFoldTest {

  static Stream<Arguments> shapes() {
    return Implementations.all().stream().flatMap(k -> Stream.of(
        Arguments.of(k.impl().name(), k, NormShape.channelsLast(1, 256)),
        Arguments.of(k.impl().name(), k, NormShape.channelsLast(37, 1024)),
        Arguments.of(k.impl().name(), k, NormShape.channelsLast(300, 512))));
  }

  @ParameterizedTest(name = "{0} {2}")
  @MethodSource("shapes")
  void foldedMeanAndVarianceMatchTheDoubleReference(String name, Kernels k, NormShape s) {
    float[] x = Reference.data(s, 0, 11);
    int C = s.channels();
    float[] mean = new float[C], var = new float[C], inv = new float[C], y = new float[x.length];
    k.forwardTraining(s, x, 0, null, null, NumericsTest.EPS, y, 0, mean, var, inv);
    double[][] ref = Reference.moments(s, x, 0);
    for (int c = 0; c < C; c++) {
      double std = Math.sqrt(ref[1][c]);
      // A float mean of values up to ~4 std from a shift of at most 3: a few ulps of max(|mean|, std).
      assertClose("mean[" + c + "]", ref[0][c], mean[c], 1e-6 * (Math.abs(ref[0][c]) + std) + 1e-30);
      assertClose("variance[" + c + "]", ref[1][c], var[c], 1e-5 * ref[1][c] + 1e-30);
    }
  }

  /** dy = x + noise: sum(dy * xhat) is then about rows * std per channel, not a cancelling sum, so 1e-5 relative holds. */
  @ParameterizedTest(name = "{0} {2}")
  @MethodSource("shapes")
  void backwardSumsMatchTheDoubleReference(String name, Kernels k, NormShape s) {
    float[] x = Reference.data(s, 0, 12), noise = Reference.data(s, 0, 13), dy = new float[x.length];
    for (int i = 0; i < x.length; i++) dy[i] = x[i] + 0.1f * noise[i];
    int C = s.channels();
    float[] mean = new float[C], var = new float[C], inv = new float[C], y = new float[x.length];
    float eps = NumericsTest.EPS;
    k.forwardTraining(s, x, 0, null, null, eps, y, 0, mean, var, inv);
    float[] dx = new float[x.length], dGamma = new float[C], dBeta = new float[C];
    k.backward(s, x, 0, dy, 0, null, mean, inv, dx, 0, dGamma, dBeta);
    double[][] ref = Reference.backward(s, x, 0, dy, 0, null, eps);
    for (int c = 0; c < C; c++) {
      assertClose("dGamma[" + c + "]", ref[1][c], dGamma[c], 1e-5 * Math.abs(ref[1][c]) + 1e-6);
    }
  }
}
