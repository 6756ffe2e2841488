package dev.vecnorm;

import static dev.vecnorm.KernelsTest.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The native channels-first backward ({@code PanamaNativeBackward.backward}) around the fused threshold, where it
 * reads a ragged plane tail from one copied vector: the same bits as
 * the {@code float[]} kernel for an odd and even number of planes (1 to 5), planes of 1 float, a vector ± 1, 49,
 * 159, 160 and 160 + a vector ± 1, 169, 196, 672, 32 vectors - 1, 32 vectors, 33 vectors + 1, 1000, 4096 and 4097 floats, unaligned byte offsets, out of place, dx = dy and
 * dx = x, with NaN and infinities in a tail; and near the float64 reference. Also channels-last tensors, whose reduce
 * and apply read the ragged end of the tensor from one vector.
 */
class NativeFusedBackwardTest {
  static final int LANES = FloatVector.SPECIES_PREFERRED.length();

  static Stream<NormShape> shapes() {
    List<NormShape> list = new ArrayList<>();
    // From 32 vectors (PanamaNativeShortPlanes.OWN_LOOP_VECTORS) to 4096 floats (APPLY_BLOCK) the native backward is
    // pipelined (channel c's reduce in one loop with channel c - 1's apply): around both ends, ragged and whole.
    for (int inner : new int[] {1, LANES - 1, LANES + 1, 49, 159, 160, 160 + LANES - 1, 160 + LANES + 1, 169, 196, 672,
        32 * LANES - 1, 32 * LANES, 33 * LANES + 1, 1000, 4096, 4097}) {
      for (int outer = 1; outer <= 5; outer++) list.add(NormShape.channelsFirst(outer, outer % 2 == 0 ? 3 : 2, inner));
    }
    // The route follows the array kernel's (PanamaBatchNormSupport.memoryOrder): 320-511-float planes of 8+ samples in
    // memory order (above, with 1-5 samples, they walk channels); 512-2559-float planes in tensors of 5 MiB+ with 8+
    // samples, 8 MiB+ with fewer, in memory order, ragged and whole.
    list.add(NormShape.channelsFirst(8, 2, 400));
    list.add(NormShape.channelsFirst(9, 3, 333));
    list.add(NormShape.channelsFirst(8, 164, 1000));
    list.add(NormShape.channelsFirst(8, 161, 1024));
    list.add(NormShape.channelsFirst(2, 1026, 1023));
    // Channels-last super rows whose ragged end (under a vector, or longer than one) is read from one vector ending
    // at the tensor's end: 17 channels as NHWC 7x13x13x17, 15 and 33, one channel, and a tensor shorter than a vector.
    for (int rows : new int[] {7 * 13 * 13, 67, 3, 1}) {
      for (int c : new int[] {17, 15, 33}) list.add(NormShape.channelsLast(rows, c));
    }
    list.add(NormShape.channelsLast(4099, 1));
    list.add(NormShape.channelsLast(LANES - 1, 1));
    return list.stream();
  }

  /** Byte offsets: float-aligned, zero, and unaligned floats. */
  static final long[] OFFSETS = {0, 4, 6};

  @ParameterizedTest
  @MethodSource("shapes")
  void sameBitsAsArraysAndNearTheReference(NormShape s) {
    NativeBackwardTest.Recording rec = new NativeBackwardTest.Recording(NativeBackwardTest.panama());
    Kernels k = new Kernels(rec);
    int n = (int) s.size(), C = s.channels();
    float[] x = Reference.data(s, 0, 7L * n + C), dy = Reference.data(s, 0, 11L * n + C);
    float[] gamma = Reference.perChannel(C, 1, 0.3, 13);
    double[][] st = Reference.moments(s, x, 0);
    float[] mean = new float[C], invStd = new float[C];
    for (int c = 0; c < C; c++) {
      mean[c] = (float) st[0][c];
      invStd[c] = (float) (1 / Math.sqrt(st[1][c] + KernelsTest.EPS));
    }
    float[] dx = new float[n], dGamma = new float[C], dBeta = new float[C];
    k.backward(s, x, 0, dy, 0, gamma, mean, invStd, dx, 0, dGamma, dBeta);
    assertNearReference(s, x, dy, gamma, st, invStd, dx);
    checkNative(k, rec, s, x, dy, gamma, mean, invStd, dx, dGamma, dBeta, "");

    // A NaN and infinities in the last plane's tail (the copied vector) and in the first plane's body.
    float[] xBad = x.clone(), dyBad = dy.clone();
    xBad[n - 1] = Float.NaN;
    dyBad[n - 2 < 0 ? 0 : n - 2] = Float.POSITIVE_INFINITY;
    dyBad[0] = Float.NEGATIVE_INFINITY;
    float[] dxBad = new float[n], dGammaBad = new float[C], dBetaBad = new float[C];
    k.backward(s, xBad, 0, dyBad, 0, gamma, mean, invStd, dxBad, 0, dGammaBad, dBetaBad);
    checkNative(k, rec, s, xBad, dyBad, gamma, mean, invStd, dxBad, dGammaBad, dBetaBad, " NaN/Inf");
  }

  private static void checkNative(Kernels k, NativeBackwardTest.Recording rec, NormShape s, float[] xa, float[] dya,
                                  float[] gamma, float[] mean, float[] invStd, float[] dx, float[] dGamma, float[] dBeta,
                                  String data) {
    int n = (int) s.size(), C = s.channels();
    for (long offset : OFFSETS) {
      for (String form : new String[] {"out of place", "dx = dy", "dx = x"}) {
        try (Arena arena = Arena.ofConfined()) {
          MemorySegment x = NativeBackwardTest.hold(arena, xa, offset), dy = NativeBackwardTest.hold(arena, dya, offset);
          MemorySegment out = switch (form) {
            case "dx = dy" -> dy;
            case "dx = x" -> x;
            default -> arena.allocate(offset + 4L * n, 64);
          };
          float[] segGamma = new float[C], segBeta = new float[C];
          rec.arrayCalls = 0;
          k.backward(s, x, offset, dy, offset, gamma, mean, invStd, out, offset, segGamma, segBeta);
          String what = s + " offset " + offset + " " + form + data;
          assertEquals(0, rec.arrayCalls, "staged instead of native: " + what);
          assertArrayEquals(dx, SegmentTest.read(out, offset, n), "dx " + what);
          assertArrayEquals(dGamma, segGamma, "dGamma " + what);
          assertArrayEquals(dBeta, segBeta, "dBeta " + what);
        }
      }
    }
  }

  /** Tolerance as FusedBackwardOrderTest's: 2e-4 of the magnitudes of dx's terms, plus 1e-6. */
  private static void assertNearReference(NormShape s, float[] x, float[] dy, float[] gamma, double[][] st, float[] invStd,
                                          float[] dx) {
    double[][] ref = Reference.backward(s, x, 0, dy, 0, gamma, KernelsTest.EPS);
    double count = s.countPerChannel();
    for (int c = 0; c < s.channels(); c++) {
      double absDy = 0, absDyXhat = 0;
      for (int o = 0; o < s.outer(); o++) {
        for (int i = 0; i < s.inner(); i++) {
          int q = Reference.index(s, o, c, i);
          absDy += Math.abs(dy[q]);
          absDyXhat += Math.abs(dy[q] * (x[q] - st[0][c]) * invStd[c]);
        }
      }
      double a = Math.abs(gamma[c] * invStd[c]);
      for (int o = 0; o < s.outer(); o++) {
        for (int i = 0; i < s.inner(); i++) {
          int q = Reference.index(s, o, c, i);
          double xhat = Math.abs((x[q] - st[0][c]) * invStd[c]);
          double scale = a * (Math.abs(dy[q]) + absDy / count + xhat * absDyXhat / count);
          assertClose(s + " dx at " + q, ref[0][q], dx[q], 2e-4 * scale + 1e-6);
        }
      }
    }
  }
}
