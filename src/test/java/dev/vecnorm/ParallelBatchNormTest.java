package dev.vecnorm;

import static dev.vecnorm.KernelsTest.assertNear;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.Test;

/** 1, 2, 3 and 8 threads (and a caller's executor) give identical bits for every operation. */
class ParallelBatchNormTest {

  record Out(float[] y, float[] mean, float[] var, float[] inv, float[] yInf, float[] dx, float[] dGamma, float[] dBeta,
             float[] extra) {}

  /** Every operation; {@code extra} concatenates the phases, fused ops and moments so all are compared. */
  static Out runAll(ParallelBatchNorm p, NormShape s, float[] x, float[] dy, float[] gamma, float[] beta) {
    int n = (int) s.size(), C = s.channels();
    Out o = new Out(new float[n], new float[C], new float[C], new float[C], new float[n], new float[n], new float[C], new float[C],
        new float[5 * n + 6 * C]);
    p.forwardTraining(s, x, 0, gamma, beta, 1e-3f, o.y(), 0, o.mean(), o.var(), o.inv());
    p.forwardInference(s, x, 0, gamma, beta, o.mean(), o.var(), 1e-3f, o.yInf(), 0);
    p.backward(s, x, 0, dy, 0, gamma, o.mean(), o.inv(), o.dx(), 0, o.dGamma(), o.dBeta());
    float[] e = o.extra();
    Moments m = new Moments(C);
    p.moments(s, x, 0, m);
    for (int c = 0; c < C; c++) {
      e[5 * n + c] = (float) m.mean(c);
      e[5 * n + C + c] = (float) m.m2(c);
    }
    float[] sumDy = new float[C], sumDyXhat = new float[C], tmp = new float[n];
    p.normalize(s, x, 0, o.mean(), o.inv(), gamma, beta, tmp, 0);
    System.arraycopy(tmp, 0, e, 0, n);
    p.backwardReduce(s, x, 0, dy, 0, o.mean(), o.inv(), sumDy, sumDyXhat);
    System.arraycopy(sumDy, 0, e, 5 * n + 2 * C, C);
    System.arraycopy(sumDyXhat, 0, e, 5 * n + 3 * C, C);
    p.backwardApply(s, x, 0, dy, 0, gamma, o.mean(), o.inv(), sumDy, sumDyXhat, s.countPerChannel(), tmp, 0);
    System.arraycopy(tmp, 0, e, n, n);
    float[] yRelu = new float[n], mean2 = new float[C], var2 = new float[C], inv2 = new float[C];
    p.forwardTrainingRelu(s, x, 0, dy, 0, gamma, beta, 1e-3f, yRelu, 0, mean2, var2, inv2);
    System.arraycopy(yRelu, 0, e, 2 * n, n);
    p.forwardInferenceRelu(s, x, 0, null, 0, gamma, beta, mean2, var2, 1e-3f, tmp, 0);
    System.arraycopy(tmp, 0, e, 3 * n, n);
    float[] dRes = new float[n], dG = new float[C], dB = new float[C];
    p.backwardRelu(s, x, 0, yRelu, 0, dy, 0, gamma, mean2, inv2, tmp, 0, dRes, 0, dG, dB);
    System.arraycopy(tmp, 0, e, 4 * n, n);
    System.arraycopy(dG, 0, e, 5 * n + 4 * C, C);
    System.arraycopy(dB, 0, e, 5 * n + 5 * C, C);
    return o;
  }

  @Test
  void resultsAreBitwiseIdenticalForAnyThreadCount() throws Exception {
    for (NormShape s : new NormShape[] {NormShape.channelsLast(3000, 200), NormShape.channelsFirst(8, 64, 3136), NormShape.channelsFirst(1, 40, 20000), NormShape.channelsLast(5, 3)}) {
      float[] x = Reference.data(s, 0, 1), dy = Reference.data(s, 0, 2);
      float[] gamma = Reference.perChannel(s.channels(), 1, 0.3, 3), beta = Reference.perChannel(s.channels(), 0, 1, 4);
      Out first = null;
      for (int threads : new int[] {1, 2, 3, 8}) {
        try (ParallelBatchNorm p = new ParallelBatchNorm(threads)) {
          Out o = runAll(p, s, x, dy, gamma, beta);
          if (first == null) {
            first = o;
            continue;
          }
          assertArrayEquals(first.y(), o.y(), s + " y, " + threads + " threads");
          assertArrayEquals(first.mean(), o.mean(), s + " mean");
          assertArrayEquals(first.var(), o.var(), s + " variance");
          assertArrayEquals(first.yInf(), o.yInf(), s + " inference y");
          assertArrayEquals(first.dx(), o.dx(), s + " dx");
          assertArrayEquals(first.dGamma(), o.dGamma(), s + " dGamma");
          assertArrayEquals(first.dBeta(), o.dBeta(), s + " dBeta");
          assertArrayEquals(first.extra(), o.extra(), s + " moments, phases and fused ops");
        }
      }
      ExecutorService own = Executors.newFixedThreadPool(5);
      try {
        Out o = runAll(new ParallelBatchNorm(own), s, x, dy, gamma, beta);
        assertArrayEquals(first.y(), o.y(), "caller's executor");
        assertArrayEquals(first.dx(), o.dx(), "caller's executor");
      } finally {
        own.shutdownNow();
      }
      // Against the single-pass kernels: same values to float rounding (merge order differs).
      int C = s.channels();
      float[] y = new float[x.length], mean = new float[C], var = new float[C], inv = new float[C];
      BatchNorm.forwardTraining(s, x, 0, gamma, beta, 1e-3f, y, 0, mean, var, inv);
      assertNear(mean, first.mean(), 1e-5);
      assertNear(var, first.var(), 1e-4);
      assertNear(y, first.y(), 1e-4);
      assertTrue(first.dx().length == x.length);
    }
  }
}
