package dev.vecnorm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;

/** The README's two examples, kept compiling and correct. */
class ReadmeExampleTest {

  @Test
  void floatArrayExample() {
    // NHWC activations of a batch of 8 images, 4x4 pixels, 16 channels
    int n = 8, h = 4, w = 4, c = 16;
    NormShape shape = NormShape.channelsLast(n * h * w, c);
    float[] x = new float[n * h * w * c];
    for (int i = 0; i < x.length; i++) x[i] = (i % 7) * 0.5f + (i % c);
    float[] gamma = new float[c], beta = new float[c];
    java.util.Arrays.fill(gamma, 1f);
    float[] y = new float[x.length];
    float[] mean = new float[c], variance = new float[c], invStd = new float[c];
    float[] movingMean = new float[c], movingVariance = new float[c];
    java.util.Arrays.fill(movingVariance, 1f);

    BatchNorm.forwardTraining(shape, x, 0, gamma, beta, 1e-3f, y, 0, mean, variance, invStd);
    BatchNorm.updateMovingStatistics(0.99f, mean, variance, movingMean, movingVariance);

    float[] dy = y.clone(); // some upstream gradient
    float[] dx = new float[x.length], dGamma = new float[c], dBeta = new float[c];
    BatchNorm.backward(shape, x, 0, dy, 0, gamma, mean, invStd, dx, 0, dGamma, dBeta);

    double[][] ref = Reference.moments(shape, x, 0);
    for (int ch = 0; ch < c; ch++) assertEquals(ref[0][ch], mean[ch], 1e-4);
    assertEquals(0.01f * mean[3], movingMean[3], 1e-6f);
  }

  @Test
  void memorySegmentExample() {
    int batch = 2, channels = 3, spatial = 5 * 5; // NCHW
    NormShape shape = NormShape.channelsFirst(batch, channels, spatial);
    float[] expected = new float[(int) shape.size()];
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment x = arena.allocate(ValueLayout.JAVA_FLOAT, shape.size());
      for (long i = 0; i < shape.size(); i++) x.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) Math.sin(i));
      float[] movingMean = {0.1f, 0.2f, 0.3f}, movingVariance = {1f, 2f, 3f};
      // in place, no gamma/beta (Keras scale=False, center=False), byte offsets
      BatchNorm.forwardInference(shape, x, 0, null, null, movingMean, movingVariance, 1e-3f, x, 0);

      float[] heap = new float[(int) shape.size()];
      for (int i = 0; i < heap.length; i++) heap[i] = (float) Math.sin(i);
      BatchNorm.forwardInference(shape, heap, 0, null, null, movingMean, movingVariance, 1e-3f, expected, 0);
      assertArrayEquals(expected, x.toArray(ValueLayout.JAVA_FLOAT));
    }
  }
}
