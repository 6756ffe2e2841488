package dev.vecnorm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vecnorm.internal.StreamingStores;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The staged out-of-place normalize ({@link StreamingStores}) writes the same bits as the direct kernel. The
 * test hook lowers the smallest staged tensor and the copy per chunk (4 KiB here instead of 2.5 MB), so small
 * tensors take the staged path on any vector width; each case runs once with staging off and once on, for both
 * implementations, on shapes just above and below the threshold, channels-last (64 and ragged 13 channels) and
 * channels-first (ragged 49- and 196-float planes, and a 20-float plane below one 512-bit vector and a half),
 * with offsets, and checks the values against a double-precision reference.
 */
class StreamingStoresTest {
  static final int COPY_BYTES = 4096;

  @AfterEach
  void reset() {
    StreamingStores.resetForTesting();
  }

  /** Tensor shapes: channels-last rows x channels, channels-first batch x channels x plane. */
  static final NormShape[] SHAPES = {
      NormShape.channelsLast(100, 64), NormShape.channelsLast(333, 13), NormShape.channelsFirst(9, 5, 49),
      NormShape.channelsFirst(7, 3, 196), NormShape.channelsFirst(40, 3, 20)};

  static float[] data(int n, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    float[] a = new float[n];
    for (int i = 0; i < n; i++) a[i] = (float) (3 + 2 * r.nextGaussian());
    return a;
  }

  static float[] perChannel(int c, double base, double spread, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    float[] a = new float[c];
    for (int i = 0; i < c; i++) a[i] = (float) (base + spread * r.nextDouble());
    return a;
  }

  /** Inference forward with staging on or off: y's bits. */
  static float[] inference(Kernels k, NormShape s, float[] x, int xOffset, int yOffset, boolean staged) {
    StreamingStores.setForTesting(staged, 4L * s.size(), COPY_BYTES);
    int c = s.channels();
    float[] y = new float[yOffset + (int) s.size() + 3];
    k.forwardInference(s, x, xOffset, perChannel(c, 0.5, 1, 1), perChannel(c, -1, 2, 2), perChannel(c, 2, 2, 3),
        perChannel(c, 0.5, 3, 4), 1e-3f, y, yOffset);
    return y;
  }

  @Test
  void inferenceStagedMatchesDirectBitForBit() {
    for (Kernels k : Implementations.all()) {
      for (NormShape s : SHAPES) {
        for (int xOffset : new int[] {0, 5}) {
          float[] x = new float[xOffset + (int) s.size()];
          System.arraycopy(data((int) s.size(), 7), 0, x, xOffset, (int) s.size());
          float[] direct = inference(k, s, x, xOffset, 3, false);
          long before = StreamingStores.stagedCallsForTesting();
          float[] staged = inference(k, s, x, xOffset, 3, true);
          assertEquals(before + 1, StreamingStores.stagedCallsForTesting(), "staged path not taken: " + s);
          assertArrayEquals(direct, staged, k.impl() + " " + s + " xOffset " + xOffset);
          checkAgainstReference(s, x, xOffset, staged, 3);
        }
      }
    }
  }

  /** y against a double-precision evaluation of gamma (x - mean) / sqrt(var + eps) + beta, to 1e-5 relative plus 1e-5. */
  static void checkAgainstReference(NormShape s, float[] x, int xOffset, float[] y, int yOffset) {
    int c = s.channels(), inner = s.inner();
    float[] g = perChannel(c, 0.5, 1, 1), b = perChannel(c, -1, 2, 2), m = perChannel(c, 2, 2, 3), v = perChannel(c, 0.5, 3, 4);
    for (int i = 0; i < s.size(); i++) {
      int ch = (i / inner) % c;
      double want = g[ch] * (x[xOffset + i] - (double) m[ch]) / Math.sqrt(v[ch] + (double) 1e-3f) + b[ch];
      assertEquals(want, y[yOffset + i], 1e-5 + 1e-5 * Math.abs(want), s + " element " + i);
    }
  }

  @Test
  void justBelowTheThresholdIsNotStaged() {
    Kernels k = Implementations.all().getLast();
    NormShape s = NormShape.channelsLast(99, 64);
    float[] x = data((int) s.size(), 11), y = new float[(int) s.size()];
    StreamingStores.setForTesting(true, 4L * s.size() + 4, COPY_BYTES);
    long before = StreamingStores.stagedCallsForTesting();
    float[] ones = perChannel(64, 1, 0, 1), zeros = new float[64];
    k.forwardInference(s, x, 0, ones, zeros, zeros, ones, 1e-3f, y, 0);
    assertEquals(before, StreamingStores.stagedCallsForTesting());
  }

  @Test
  void trainingForwardAndHeapSegmentsStagedMatchDirect() {
    for (Kernels k : Implementations.all()) {
      for (NormShape s : SHAPES) {
        int n = (int) s.size(), c = s.channels();
        float[] x = data(n, 13), g = perChannel(c, 0.5, 1, 5), b = perChannel(c, -1, 2, 6);
        float[][] out = new float[2][];
        float[][] stats = new float[2][];
        for (int staged = 0; staged < 2; staged++) {
          StreamingStores.setForTesting(staged == 1, 4L * n, COPY_BYTES);
          float[] y = new float[n], mean = new float[c], var = new float[c], inv = new float[c];
          k.forwardTraining(s, MemorySegment.ofArray(x), 0, g, b, 1e-3f, MemorySegment.ofArray(y), 0, mean, var, inv);
          out[staged] = y;
          stats[staged] = inv;
        }
        assertArrayEquals(out[0], out[1], k.impl() + " " + s);
        assertArrayEquals(stats[0], stats[1]);
      }
    }
  }

  @Test
  void nanAndInfinityPropagateAcrossChunks() {
    for (Kernels k : Implementations.all()) {
      NormShape s = NormShape.channelsLast(100, 64);
      float[] x = data((int) s.size(), 17);
      int chunk = COPY_BYTES / 4; // one chunk is 16 rows: its first, last and the direct tail's elements
      x[0] = Float.NaN;
      x[chunk - 1] = Float.POSITIVE_INFINITY;
      x[chunk] = Float.NEGATIVE_INFINITY;
      x[x.length - 1] = Float.NaN;
      float[] direct = inference(k, s, x, 0, 0, false), staged = inference(k, s, x, 0, 0, true);
      assertArrayEquals(direct, staged);
      assertTrue(Float.isNaN(staged[0]) && Float.isNaN(staged[x.length - 1]));
      assertTrue(Float.isInfinite(staged[chunk - 1]) && Float.isInfinite(staged[chunk]));
    }
  }

  @Test
  void inPlaceIsNeverStagedAndDisjointRangesOfOneArrayAre() {
    Kernels k = Implementations.all().getLast();
    NormShape s = NormShape.channelsFirst(9, 5, 49);
    int n = (int) s.size(), c = s.channels();
    float[] g = perChannel(c, 0.5, 1, 1), b = perChannel(c, -1, 2, 2), m = perChannel(c, 2, 2, 3), v = perChannel(c, 0.5, 3, 4);
    float[] x = data(n, 19), direct = new float[n];
    StreamingStores.setForTesting(false, 0, COPY_BYTES);
    k.forwardInference(s, x, 0, g, b, m, v, 1e-3f, direct, 0);

    StreamingStores.setForTesting(true, 0, COPY_BYTES);
    long before = StreamingStores.stagedCallsForTesting();
    float[] inPlace = x.clone();
    k.forwardInference(s, inPlace, 0, g, b, m, v, 1e-3f, inPlace, 0);
    assertEquals(before, StreamingStores.stagedCallsForTesting(), "y = x was staged");
    assertArrayEquals(direct, inPlace);

    float[] both = new float[2 * n]; // x in the first half, y in the second: one array, no overlap
    System.arraycopy(x, 0, both, 0, n);
    k.forwardInference(s, both, 0, g, b, m, v, 1e-3f, both, n);
    assertEquals(before + 1, StreamingStores.stagedCallsForTesting());
    assertArrayEquals(direct, java.util.Arrays.copyOfRange(both, n, 2 * n));
    assertArrayEquals(x, java.util.Arrays.copyOfRange(both, 0, n), "x changed");
  }
}
