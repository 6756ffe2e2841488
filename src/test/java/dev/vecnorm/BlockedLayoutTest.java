package dev.vecnorm;

import static dev.vecnorm.KernelsTest.assertNear;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The blocked layout: conversions round-trip, and batch norm on it equals batch norm on NCHW. */
class BlockedLayoutTest {

  @ParameterizedTest
  @ValueSource(ints = {1, 8, 13, 16, 19})
  void blockedBatchNormEqualsNchwBatchNorm(int channels) {
    BlockedShape b = BlockedShape.of(3, channels, 20);
    NormShape nchw = NormShape.channelsFirst(3, channels, 20);
    float[] x = Reference.data(nchw, 0, channels), dy = Reference.data(nchw, 0, channels + 1);
    float[] gamma = Reference.perChannel(channels, 1, 0.4, 2), beta = Reference.perChannel(channels, 0, 1, 3);

    float[] xb = new float[b.size()], back = new float[x.length], nhwc = new float[x.length], viaNhwc = new float[b.size()];
    BlockedLayout.fromNchw(b, x, 0, xb, 0);
    BlockedLayout.toNchw(b, xb, 0, back, 0);
    assertArrayEquals(x, back, "NCHW -> blocked -> NCHW");
    BlockedLayout.toNhwc(b, xb, 0, nhwc, 0);
    assertEquals(x[(1 * channels + channels - 1) * 20 + 7], nhwc[(1 * 20 + 7) * channels + channels - 1], "NHWC element");
    BlockedLayout.fromNhwc(b, nhwc, 0, viaNhwc, 0);
    assertArrayEquals(xb, viaNhwc, "NHWC -> blocked");

    int C = channels;
    float[] y = new float[x.length], mean = new float[C], var = new float[C], inv = new float[C];
    BatchNorm.forwardTraining(nchw, x, 0, gamma, beta, 1e-3f, y, 0, mean, var, inv);
    float[] yb = new float[b.size()], meanB = new float[C], varB = new float[C], invB = new float[C], yBack = new float[x.length];
    BlockedLayout.forwardTraining(b, xb, 0, gamma, beta, 1e-3f, yb, 0, meanB, varB, invB);
    assertNear(mean, meanB, 1e-5);
    assertNear(var, varB, 1e-4);
    BlockedLayout.toNchw(b, yb, 0, yBack, 0);
    assertNear(y, yBack, 1e-4);
    for (int n = 0; n < 3; n++) { // padding lanes stay 0
      for (int c = C; c < b.channelBlocks() * b.block(); c++) {
        assertEquals(0f, yb[((n * b.channelBlocks() + c / b.block()) * 20) * b.block() + c % b.block()]);
      }
    }

    float[] yInf = new float[x.length], ybInf = new float[b.size()], ybInfBack = new float[x.length];
    BatchNorm.forwardInference(nchw, x, 0, gamma, beta, mean, var, 1e-3f, yInf, 0);
    BlockedLayout.forwardInference(b, xb, 0, gamma, beta, mean, var, 1e-3f, ybInf, 0);
    BlockedLayout.toNchw(b, ybInf, 0, ybInfBack, 0);
    assertNear(yInf, ybInfBack, 1e-5);

    float[] dx = new float[x.length], dGamma = new float[C], dBeta = new float[C];
    BatchNorm.backward(nchw, x, 0, dy, 0, gamma, mean, inv, dx, 0, dGamma, dBeta);
    float[] dyb = new float[b.size()], dxb = new float[b.size()], dGammaB = new float[C], dBetaB = new float[C], dxBack = new float[x.length];
    BlockedLayout.fromNchw(b, dy, 0, dyb, 0);
    BlockedLayout.backward(b, xb, 0, dyb, 0, gamma, mean, inv, dxb, 0, dGammaB, dBetaB);
    BlockedLayout.toNchw(b, dxb, 0, dxBack, 0);
    assertNear(dx, dxBack, 1e-4);
    assertNear(dGamma, dGammaB, 1e-4);
    assertNear(dBeta, dBetaB, 1e-4);

    assertThrows(IllegalArgumentException.class, () -> BlockedLayout.fromNchw(b, x, 1, new float[b.size()], 0));
    assertThrows(IllegalArgumentException.class, () -> new BlockedShape(1, 0, 1, 8));
  }
}
