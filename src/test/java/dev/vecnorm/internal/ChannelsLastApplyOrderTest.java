package dev.vecnorm.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The channels-last backward apply walks the tensor from its end back in blocks of super rows or rows
 * ({@code applySuperRowsFromEnd}, float[] and native). Every element must still get its own two FMAs:
 * {@code dx = fma(dy, a, fma(x - mean, b, k))} with channel c's folded coefficients, bit for bit, out of place
 * and in place (dx = x, dx = dy), on a native segment too, and within float rounding of the same formula in double.
 * Shapes: one part super row only, several blocks plus a part row, super rows wider than a block, and rows too wide
 * for super rows with a channel tail (1023, 4097, 5000: blocks of rows, one row a block at 4097 and 5000), and the
 * channel counts whose pattern repeats within four vectors (coefficients held in registers: 1 to 64, 3 to 48).
 */
class ChannelsLastApplyOrderTest {

  private static final ValueLayout.OfFloat LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);

  @ParameterizedTest
  @CsvSource({"33, 100", "1000, 1", "777, 17", "300, 64", "257, 1024", "9, 5000", "3, 2048", "40, 1023", "7, 4097",
      // coefficients in registers (steps of three or four vectors, see registerStride): part steps, several blocks
      "70003, 1", "17000, 8", "9000, 12", "4099, 32", "2100, 48", "1031, 64", "11111, 6", "3001, 24", "5001, 3", "3, 48", "2, 16"})
  void everyElementGetsItsOwnFmasInAnyWalk(int rows, int channels) {
    var panama = VectorizationProvider.panama();
    assumeTrue(panama.isPresent(), "no Panama implementation on this JVM");
    BatchNormSupport impl = panama.get();
    int n = rows * channels;
    SplittableRandom random = new SplittableRandom(rows * 31L + channels);
    float[] x = new float[n], dy = new float[n];
    for (int i = 0; i < n; i++) {
      x[i] = (float) (random.nextDouble() * 4 - 1);
      dy[i] = (float) (random.nextDouble() * 2 - 1);
    }
    float[] mean = new float[channels], invStd = new float[channels], gamma = new float[channels];
    float[] sumDy = new float[channels], sumDyXhat = new float[channels];
    for (int c = 0; c < channels; c++) {
      mean[c] = (float) (random.nextDouble() * 2);
      invStd[c] = (float) (0.5 + random.nextDouble());
      gamma[c] = (float) (random.nextDouble() * 2 - 1);
      sumDy[c] = (float) (random.nextDouble() * rows - rows / 2.0);
      sumDyXhat[c] = (float) (random.nextDouble() * rows - rows / 2.0);
    }
    double count = rows;
    float[] expected = new float[n];
    for (int i = 0; i < n; i++) {
      int c = i % channels;
      float a = Coefficients.backwardA(invStd, gamma, c), b = Coefficients.backwardB(a, invStd, sumDyXhat, count, c);
      float k = Coefficients.backwardK(a, sumDy, count, c);
      expected[i] = Math.fma(dy[i], a, Math.fma(x[i] - mean[c], b, k));
      double a64 = (double) gamma[c] * invStd[c];
      double ref = a64 * dy[i] - a64 * invStd[c] * sumDyXhat[c] / count * (x[i] - mean[c]) - a64 * sumDy[c] / count;
      double scale = Math.abs(a64) * (Math.abs(dy[i]) + invStd[c] * Math.abs(sumDyXhat[c]) / count * Math.abs(x[i] - mean[c])
          + Math.abs(sumDy[c]) / count);
      assertEquals(ref, expected[i], 1e-6 * scale + 1e-12, "formula at " + i);
    }

    float[] dx = new float[n];
    impl.backwardApply(x, 0, dy, 0, dx, 0, rows, channels, 1, mean, invStd, gamma, sumDy, sumDyXhat, count);
    assertArrayEquals(expected, dx, rows + "x" + channels + " dx");
    float[] xInPlace = x.clone(), dyInPlace = dy.clone();
    impl.backwardApply(xInPlace, 0, dy, 0, xInPlace, 0, rows, channels, 1, mean, invStd, gamma, sumDy, sumDyXhat, count);
    assertArrayEquals(expected, xInPlace, rows + "x" + channels + " dx = x");
    impl.backwardApply(x, 0, dyInPlace, 0, dyInPlace, 0, rows, channels, 1, mean, invStd, gamma, sumDy, sumDyXhat, count);
    assertArrayEquals(expected, dyInPlace, rows + "x" + channels + " dx = dy");

    try (Arena arena = Arena.ofConfined()) {
      long bytes = 4L * n + 4; // 4 bytes in: not vector-aligned
      MemorySegment xs = arena.allocate(bytes), dys = arena.allocate(bytes), dxs = arena.allocate(bytes);
      MemorySegment.copy(x, 0, xs, LE, 4, n);
      MemorySegment.copy(dy, 0, dys, LE, 4, n);
      assumeTrue(impl.backwardApplyNative(xs, 4, dys, 4, dxs, 4, rows, channels, 1, mean, invStd, gamma, sumDy, sumDyXhat, count),
          "native body not taken");
      float[] native_ = new float[n];
      MemorySegment.copy(dxs, LE, 4, native_, 0, n);
      assertArrayEquals(expected, native_, rows + "x" + channels + " native dx");
    }
  }
}
