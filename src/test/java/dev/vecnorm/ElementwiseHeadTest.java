package dev.vecnorm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vecnorm.internal.PanamaBatchNormSupportAccess;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The channels-last normalize and backward apply compute a few floats one at a time before their vector loops so that
 * the vectors start on a cache line (PanamaBatchNormSupport.head): for a {@code float[]} from the guessed array layout,
 * for a native segment from its address. Where the vectors start must change no bit: the same tensor at every element
 * offset of a {@code float[]} (0 to 16) and at every 4-byte offset of a 64-byte-aligned native segment (0 to 64) gives
 * the bits of the same call at offset 0, for training forward (y), inference forward (y) and backward (dx, dGamma,
 * dBeta), at channel counts with one-row, tiled and register-held patterns, and ragged totals (61 rows past the
 * smallest call that computes a head). The channels-last statistics load from a line too, rebuilding the unaligned
 * vectors (PanamaBatchNormSupport.accumulate4Aligned): the training forward's y depends on its mean and variance, so
 * the same comparison covers them. {@code normalizeFolded}, the normalize of ParallelBatchNorm's training chunks, has the
 * same head and the same check.
 */
class ElementwiseHeadTest {

  @ParameterizedTest
  @ValueSource(ints = {1, 3, 16, 17, 48, 64, 100, 256, 1024})
  void sameBitsAtEveryOffset(int channels) {
    int rows = PanamaBatchNormSupportAccess.headMinFloats() / channels + 61;
    NormShape s = NormShape.channelsLast(rows, channels);
    Kernels k = new Kernels(NativeBackwardTest.panama());
    int n = (int) s.size(), c = channels;
    long seed = 31L * c + 5;
    float[] x = Reference.data(s, 0, seed), dy = Reference.data(s, 0, seed + 7);
    float[] gamma = Reference.perChannel(c, 1, 0.5, seed + 1), beta = Reference.perChannel(c, 0, 1, seed + 2);
    float[] movingMean = Reference.perChannel(c, 0.5, 1, seed + 3), movingVariance = Reference.perChannel(c, 2, 0.5, seed + 4);
    for (int j = 0; j < c; j++) movingVariance[j] = Math.abs(movingVariance[j]);
    float[][] expected = run(k, s, x, 0, dy, gamma, beta, movingMean, movingVariance);
    for (int offset = 1; offset <= 16; offset++) {
      float[][] actual = run(k, s, x, offset, dy, gamma, beta, movingMean, movingVariance);
      for (int i = 0; i < expected.length; i++) assertArrayEquals(expected[i], actual[i], "output " + i + ", float[] offset " + offset + ", C = " + c);
    }
    try (Arena arena = Arena.ofConfined()) {
      for (long offset = 0; offset <= 64; offset += 4) {
        MemorySegment nx = NativeBackwardTest.hold(arena, x, offset), ndy = NativeBackwardTest.hold(arena, dy, offset);
        MemorySegment y = arena.allocate(offset + 4L * n, 64), yi = arena.allocate(offset + 4L * n, 64), dx = arena.allocate(offset + 4L * n, 64);
        float[] mean = new float[c], var = new float[c], inv = new float[c], dGamma = new float[c], dBeta = new float[c];
        k.forwardTraining(s, nx, offset, gamma, beta, 1e-3f, y, offset, mean, var, inv);
        k.forwardInference(s, nx, offset, gamma, beta, movingMean, movingVariance, 1e-3f, yi, offset);
        k.backward(s, nx, offset, ndy, offset, gamma, mean, inv, dx, offset, dGamma, dBeta);
        String at = ", native byte offset " + offset + ", C = " + c;
        assertArrayEquals(expected[0], SegmentTest.read(y, offset, n), "training y" + at);
        assertArrayEquals(expected[1], SegmentTest.read(yi, offset, n), "inference y" + at);
        assertArrayEquals(expected[2], SegmentTest.read(dx, offset, n), "dx" + at);
        assertArrayEquals(expected[3], dGamma, "dGamma" + at);
        assertArrayEquals(expected[4], dBeta, "dBeta" + at);
      }
    }
  }

  /**
   * {@code normalizeFolded} (a ParallelBatchNorm training forward's normalize chunks) computes the same head: at every
   * {@code float[]} offset 0 to 16, out of place (y at the same offset, as a chunk's) and in place, it gives the bits of
   * the kernel's own normalize at offset 0 with the same statistics, and writes nothing outside the tensor.
   */
  @ParameterizedTest
  @ValueSource(ints = {1, 3, 17, 64, 100, 256, 1024, 2048})
  void foldedNormalizeSameBitsAtEveryOffset(int channels) {
    int rows = PanamaBatchNormSupportAccess.headMinFloats() / channels + 61, c = channels, n = rows * c;
    NormShape s = NormShape.channelsLast(rows, c);
    var impl = NativeBackwardTest.panama();
    float[] x0 = Reference.data(s, 0, 7L * c);
    float[] mean = Reference.perChannel(c, 0, 2, 1), invStd = Reference.perChannel(c, 1, 0.2, 2);
    float[] gamma = Reference.perChannel(c, 1, 0.3, 3), beta = Reference.perChannel(c, 0, 1, 4);
    float[] coef = ParallelBatchNormFoldedTest.fold(mean, invStd, gamma, beta);
    float[] expected = new float[n];
    impl.normalize(x0, 0, expected, 0, rows, c, 1, mean, invStd, false, 1e-3f, gamma, beta);
    for (int offset = 0; offset <= 16; offset++) {
      float[] x = new float[offset + n + 5], y = new float[x.length];
      System.arraycopy(x0, 0, x, offset, n);
      impl.normalizeFolded(x, offset, y, offset, rows, c, coef);
      String at = "float[] offset " + offset + ", C = " + c;
      assertArrayEquals(expected, java.util.Arrays.copyOfRange(y, offset, offset + n), "y, " + at);
      for (int k = 0; k < y.length; k++) if (k < offset || k >= offset + n) assertEquals(0f, y[k], "outside the tensor, " + at);
      impl.normalizeFolded(x, offset, x, offset, rows, c, coef);
      assertArrayEquals(expected, java.util.Arrays.copyOfRange(x, offset, offset + n), "in place, " + at);
    }
  }

  /** {training y, inference y, dx, dGamma, dBeta} of the tensor copied to element {@code offset} of fresh arrays. */
  private static float[][] run(Kernels k, NormShape s, float[] x0, int offset, float[] dy0, float[] gamma, float[] beta,
                               float[] movingMean, float[] movingVariance) {
    int n = (int) s.size(), c = s.channels();
    float[] x = new float[offset + n], dy = new float[offset + n], y = new float[offset + n], yi = new float[offset + n];
    float[] dx = new float[offset + n];
    System.arraycopy(x0, 0, x, offset, n);
    System.arraycopy(dy0, 0, dy, offset, n);
    float[] mean = new float[c], var = new float[c], inv = new float[c], dGamma = new float[c], dBeta = new float[c];
    k.forwardTraining(s, x, offset, gamma, beta, 1e-3f, y, offset, mean, var, inv);
    k.forwardInference(s, x, offset, gamma, beta, movingMean, movingVariance, 1e-3f, yi, offset);
    k.backward(s, x, offset, dy, offset, gamma, mean, inv, dx, offset, dGamma, dBeta);
    return new float[][] {
        java.util.Arrays.copyOfRange(y, offset, offset + n), java.util.Arrays.copyOfRange(yi, offset, offset + n),
        java.util.Arrays.copyOfRange(dx, offset, offset + n), dGamma, dBeta};
  }

  /** The head puts the first vector on an alignment boundary of the assumed layout, and never past the tensor's end. */
  @Test
  void headReachesABoundaryWithinTheTensor() {
    int align = PanamaBatchNormSupportAccess.alignBytes(), base = PanamaBatchNormSupportAccess.arrayBaseBytes();
    for (int offset = 0; offset < 64; offset++) {
      int h = PanamaBatchNormSupportAccess.head(offset, 1 << 20);
      assertTrue(h >= 0 && h < align / 4, "head " + h + " at offset " + offset);
      assertEquals(0, (base + 4 * (offset + h)) % align, "offset " + offset + " + head " + h);
      int min = PanamaBatchNormSupportAccess.headMinFloats();
      assertEquals(h, PanamaBatchNormSupportAccess.head(offset, min), "the smallest call with a head, offset " + offset);
      assertEquals(0, PanamaBatchNormSupportAccess.head(offset, min - 1), "a call too small for a head, offset " + offset);
    }
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment m = arena.allocate(256, 64);
      for (long offset = 0; offset < 64; offset += 4) {
        int h = PanamaBatchNormSupportAccess.head(m, offset, 1 << 20);
        assertEquals(0, (m.address() + offset + 4L * h) % align, "native offset " + offset);
      }
      assertEquals(0, PanamaBatchNormSupportAccess.head(m, 2, 1 << 20), "floats off 4-byte alignment: no head");
    }
  }
}
