package dev.vecnorm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The channels-last backward reduce walks a super row's four-row steps in memory order below 1024 floats a super row
 * and with the four rows' vectors together from there (PanamaBatchNormSupport.reduceSuperRows): both must give the
 * bits of the native body (which keeps the interleaved walk at every width), and the sums and dx must stay within
 * float accumulation error of a double-precision reference. 997 rows: many four-row steps, then leftover super rows
 * and a part super row, at every channel count the issue lists (16 to 1024, ragged ones included), and 1040 and 2048
 * (wide super rows, whose sums lie in reverse position order: 65 and 128 vector positions).
 */
class ChannelsLastBackwardWalkTest {

  static final int ROWS = 997;

  @ParameterizedTest
  @ValueSource(ints = {1, 16, 17, 32, 33, 48, 64, 96, 100, 128, 255, 256, 512, 1024, 1040, 2048})
  void memoryOrderWalkSameBitsAsNativeAndCloseToDouble(int channels) {
    NormShape s = NormShape.channelsLast(ROWS, channels);
    Kernels k = new Kernels(NativeBackwardTest.panama());
    int n = (int) s.size(), c = channels;
    NativeBackwardTest.Data d = NativeBackwardTest.Data.of(s, 7L * c + 1);
    float[] dx = new float[n], dGamma = new float[c], dBeta = new float[c];
    k.backward(s, d.x(), 0, d.dy(), 0, d.gamma(), d.mean(), d.invStd(), dx, 0, dGamma, dBeta);
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment x = NativeBackwardTest.hold(arena, d.x(), 4), dy = NativeBackwardTest.hold(arena, d.dy(), 4);
      MemorySegment out = arena.allocate(4 + 4L * n, 64);
      float[] segGamma = new float[c], segBeta = new float[c];
      k.backward(s, x, 4, dy, 4, d.gamma(), d.mean(), d.invStd(), out, 4, segGamma, segBeta);
      assertArrayEquals(dBeta, segBeta, "dBeta, C = " + c);
      assertArrayEquals(dGamma, segGamma, "dGamma, C = " + c);
      assertArrayEquals(dx, SegmentTest.read(out, 4, n), "dx, C = " + c);
    }
    // Double reference: dBeta = sum dy, dGamma = invStd * sum dy (x - mean), dx = gamma invStd (dy - dBeta/N - xhat dGamma/N).
    double[] sDy = new double[c], sDyXhat = new double[c], absDy = new double[c], absDyXhat = new double[c];
    for (int r = 0; r < ROWS; r++) {
      for (int j = 0; j < c; j++) {
        int i = r * c + j;
        double g = d.dy()[i], xhat = (d.x()[i] - (double) d.mean()[j]) * d.invStd()[j];
        sDy[j] += g;
        sDyXhat[j] += g * xhat;
        absDy[j] += Math.abs(g);
        absDyXhat[j] += Math.abs(g * xhat);
      }
    }
    // Float sums of ~ROWS / 4 steps of four: error well under 1e-5 of the sum of magnitudes.
    for (int j = 0; j < c; j++) {
      assertTrue(Math.abs(dBeta[j] - sDy[j]) <= 1e-5 * absDy[j], "dBeta[" + j + "] " + dBeta[j] + " vs " + sDy[j] + ", C = " + c);
      assertTrue(Math.abs(dGamma[j] - sDyXhat[j]) <= 1e-5 * absDyXhat[j],
          "dGamma[" + j + "] " + dGamma[j] + " vs " + sDyXhat[j] + ", C = " + c);
    }
    for (int r = 0; r < ROWS; r++) {
      for (int j = 0; j < c; j++) {
        int i = r * c + j;
        double a = (double) d.gamma()[j] * d.invStd()[j], xhat = (d.x()[i] - (double) d.mean()[j]) * d.invStd()[j];
        double ref = a * (d.dy()[i] - sDy[j] / ROWS - xhat * sDyXhat[j] / ROWS);
        double scale = Math.abs(a) * (Math.abs(d.dy()[i]) + absDy[j] / ROWS + Math.abs(xhat) * absDyXhat[j] / ROWS);
        assertTrue(Math.abs(dx[i] - ref) <= 1e-5 * scale + 1e-7, "dx[" + r + ", " + j + "] " + dx[i] + " vs " + ref + ", C = " + c);
      }
    }
  }
}
