package dev.vecnorm.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The channels-last forward apply takes one of several routes by channel count and size: coefficient vectors held in
 * registers when {@code lcm(channels, lanes)} is 1 to 4 vectors (C = 1, 3, 16, 32, 48, 64 at 16 lanes; the 8-lane
 * set differs), two or four long streams on calls past {@code STREAM_MIN_FLOATS} (256 Ki floats), super rows with
 * per-position coefficients, and rows too wide for super rows with a scalar channel tail (255, 1000). Whatever the
 * route, every element must get {@code y = fma(x - mean, gamma * invStd, beta)} with its own channel's values, bit for
 * bit: out of place at odd offsets, in place, through {@code normalizeFolded} and on native memory; and that formula
 * must sit within float rounding of the same expression in double. Row counts are odd so that the streams leave
 * rows, and the register loops leave vectors and floats, to the tail loops.
 */
class ChannelsLastForwardRoutesTest {

  private static final ValueLayout.OfFloat LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);

  @ParameterizedTest
  @CsvSource({"300001, 1", "100003, 3", "7, 3", "20001, 16", "5, 16", "8193, 32", "6001, 48", "11, 48", "4099, 64", "7, 64",
      "16001, 17", "33, 17", "3001, 96", "2049, 128", "1101, 255", "263, 1000", "3, 1000", "257, 1024", "131, 2048",
      "1, 2048", "9, 24", "40001, 8", "5003, 40"})
  void everyElementGetsItsOwnChannelsCoefficientsOnEveryRoute(int rows, int channels) {
    var panama = VectorizationProvider.panama();
    assumeTrue(panama.isPresent(), "no Panama implementation on this JVM");
    BatchNormSupport impl = panama.get();
    int n = rows * channels, off = 3;
    SplittableRandom random = new SplittableRandom(rows * 31L + channels);
    float[] x = new float[n + off];
    for (int i = 0; i < x.length; i++) x[i] = (float) (random.nextDouble() * 8 - 2);
    float[] mean = new float[channels], invStd = new float[channels], gamma = new float[channels], beta = new float[channels];
    for (int c = 0; c < channels; c++) {
      mean[c] = (float) (random.nextDouble() * 2);
      invStd[c] = (float) (0.5 + random.nextDouble());
      gamma[c] = (float) (random.nextDouble() * 2 - 1);
      beta[c] = (float) (random.nextDouble() * 2 - 1);
    }
    float[] expected = new float[n];
    for (int i = 0; i < n; i++) {
      int c = i % channels;
      float alpha = gamma[c] * invStd[c];
      expected[i] = Math.fma(x[off + i] - mean[c], alpha, beta[c]);
      double ref = ((double) x[off + i] - mean[c]) * ((double) gamma[c] * invStd[c]) + beta[c];
      double scale = Math.abs(((double) x[off + i] - mean[c]) * gamma[c] * invStd[c]) + Math.abs(beta[c]);
      assertEquals(ref, expected[i], 1e-6 * scale + 1e-12, "formula at " + i);
    }

    float[] y = new float[n + 5];
    impl.normalize(x, off, y, 5, rows, channels, 1, mean, invStd, false, 0f, gamma, beta);
    assertSame(expected, y, 5, "float[] out of place");

    float[] folded = Coefficients.folded(new float[3 * channels], channels, 0, channels, mean, invStd, false, 0f, gamma, beta);
    java.util.Arrays.fill(y, Float.NaN);
    impl.normalizeFolded(x, off, y, 5, rows, channels, folded);
    assertSame(expected, y, 5, "normalizeFolded");

    float[] inPlace = x.clone();
    impl.normalize(inPlace, off, inPlace, off, rows, channels, 1, mean, invStd, false, 0f, gamma, beta);
    assertSame(expected, inPlace, off, "float[] in place");

    try (Arena arena = Arena.ofConfined()) {
      MemorySegment xs = arena.allocate(4L * n + 12, 64), ys = arena.allocate(4L * n + 20, 64);
      for (int i = 0; i < n; i++) xs.set(LE, 12 + 4L * i, x[off + i]);
      assertTrue(impl.normalizeNative(xs, 12, ys, 20, rows, channels, 1, mean, invStd, false, 0f, gamma, beta));
      float[] out = new float[n];
      for (int i = 0; i < n; i++) out[i] = ys.get(LE, 20 + 4L * i);
      assertSame(expected, out, 0, "native out of place");
      assertTrue(impl.normalizeNative(xs, 12, xs, 12, rows, channels, 1, mean, invStd, false, 0f, gamma, beta));
      for (int i = 0; i < n; i++) out[i] = xs.get(LE, 12 + 4L * i);
      assertSame(expected, out, 0, "native in place");
    }
  }

  private static void assertSame(float[] expected, float[] actual, int at, String what) {
    for (int i = 0; i < expected.length; i++) {
      if (Float.floatToRawIntBits(expected[i]) != Float.floatToRawIntBits(actual[at + i])) {
        throw new AssertionError(what + ": element " + i + " (channel-row position) expected " + expected[i] + " but was " + actual[at + i]);
      }
    }
  }
}
