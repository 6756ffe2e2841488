package dev.vecnorm.keras;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.vecnorm.io.Idx;
import dev.vecnorm.io.Json;
import dev.vecnorm.layers.Activation;
import dev.vecnorm.layers.BatchNormalization;
import dev.vecnorm.layers.Dense;
import dev.vecnorm.layers.Dropout;
import dev.vecnorm.layers.Flatten;
import dev.vecnorm.layers.Layer;
import dev.vecnorm.layers.Tensor;
import dev.vecnorm.model.Model;
import dev.vecnorm.model.Sequential;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The four real Keras files of ../shared/keras_models (SOURCES.md). They have no licence, so they are read
 * from the shared directory beside the worktree and these tests are skipped where it is absent. Expected
 * accuracies are SOURCES.md's, from its author's own numpy forward pass (not from this code).
 */
class KerasModelsTest {
  /** The shared directory, from the module ({@code ../../shared}) or the project ({@code ../shared}). */
  static Path shared(String sub) {
    for (Path p : List.of(Path.of("..", "..", "shared", sub), Path.of("..", "shared", sub))) if (Files.isDirectory(p)) return p;
    return Path.of("..", "..", "shared", sub);
  }

  static Path model(String prefix) throws IOException {
    Path dir = shared("keras_models");
    assumeTrue(Files.isDirectory(dir), "no " + dir.toAbsolutePath() + ": the real Keras files are not on this machine");
    try (var s = Files.list(dir)) {
      return s.filter(p -> p.getFileName().toString().startsWith(prefix)).findFirst().orElseThrow();
    }
  }

  /** The 10k Fashion-MNIST test images as float pixels / 255, shaped {@code [n, rest...]}. */
  static Tensor testImages(int... sampleShape) throws IOException {
    Path dir = shared("datasets/fashion-mnist");
    assumeTrue(Files.isDirectory(dir), "no Fashion-MNIST test set");
    Idx.Data d = Idx.read(dir.resolve("t10k-images-idx3-ubyte.gz"));
    float[] x = new float[d.values().length];
    for (int i = 0; i < x.length; i++) x[i] = (d.values()[i] & 0xff) / 255f;
    int[] shape = new int[sampleShape.length + 1];
    shape[0] = d.count();
    System.arraycopy(sampleShape, 0, shape, 1, sampleShape.length);
    return new Tensor(shape, x);
  }

  static byte[] testLabels() throws IOException {
    return Idx.read(shared("datasets/fashion-mnist").resolve("t10k-labels-idx1-ubyte.gz")).values();
  }

  static double accuracy(Model m, Tensor x, byte[] labels, int[] firstFive) {
    Tensor p = m.predict(x, 500);
    int classes = p.dim(1), correct = 0;
    for (int i = 0; i < labels.length; i++) {
      int best = 0;
      for (int j = 1; j < classes; j++) if (p.data()[i * classes + j] > p.data()[i * classes + best]) best = j;
      if (best == labels[i]) correct++;
      if (i < 5) firstFive[i] = best;
    }
    return (double) correct / labels.length;
  }

  static List<Class<?>> types(Model m) {
    return m.layers().stream().<Class<?>>map(Object::getClass).toList();
  }

  @Test
  void keras3KerasFileReachesItsTestAccuracy() throws IOException {
    Model m = KerasModels.load(model("keras3.11.3_"));
    assertEquals(List.of(Dense.class, BatchNormalization.class, Dropout.class, Dense.class, BatchNormalization.class, Dropout.class,
        Dense.class), types(m));
    int[] first = new int[5];
    double acc = accuracy(m, testImages(784), testLabels(), first);
    // SOURCES.md: 0.8919 from a numpy forward pass; float32 summation order may flip a borderline image or two.
    assertEquals(0.8919, acc, 2e-4, "test accuracy");
    assertArrayEquals(new int[] {9, 2, 1, 1, 6}, first);
    assertEquals(0.99723, m.predict(testImages(784), 10000).data()[9], 5e-5, "p[0][9] (SOURCES.md: about 0.99723)");
    System.out.printf("keras3.11.3 .keras: test accuracy %.4f%n", acc);
  }

  @Test
  void keras3LegacyH5ReachesItsTestAccuracy() throws IOException {
    Model m = KerasModels.load(model("keras3.6.0_"));
    assertEquals(List.of(Flatten.class, Dense.class, BatchNormalization.class, Dropout.class, Dense.class, BatchNormalization.class,
        Dropout.class, Dense.class, Dense.class), types(m));
    int[] first = new int[5];
    double acc = accuracy(m, testImages(28, 28), testLabels(), first);
    assertEquals(0.8605, acc, 2e-4, "test accuracy");
    assertArrayEquals(new int[] {9, 2, 1, 1, 6}, first);
    System.out.printf("keras3.6.0 .h5: test accuracy %.4f%n", acc);
  }

  @Test
  void keras2FunctionalModelKeepsItsSettings() throws IOException {
    Model m = KerasModels.load(model("keras2.3.1_"));
    assertEquals(1, m.inputs().size(), "read as a functional Model");
    List<Layer> layers = m.layers();
    assertEquals(List.of("fc1_relu", "bn1", "relu1", "fc2_relu", "bn2", "relu2", "fc3_relu", "bn3", "relu3", "output_softmax", "bn4",
        "softmax"), layers.stream().map(Layer::name).toList());
    for (Layer l : layers) {
      if (l instanceof BatchNormalization bn) {
        assertEquals(1e-6, bn.epsilon(), 0.0, bn.name());
        assertEquals(0.9, bn.momentum(), 0.0, bn.name());
        assertEquals(-1, bn.axisConfig());
      }
      if (l instanceof Dense d) assertEquals("linear", d.activation());
    }
    assertInstanceOf(Activation.class, layers.get(11));
    assertEquals(Activation.Kind.SOFTMAX, ((Activation) layers.get(11)).kind());
    assertArrayEquals(new int[] {1, 16}, m.inputShape());
    // The forward pass is a probability distribution over 5 classes for any input.
    Tensor p = m.predict(new Tensor(new int[] {2, 16}, new float[32]), 2);
    assertEquals(1.0, p.data()[0] + p.data()[1] + p.data()[2] + p.data()[3] + p.data()[4], 1e-5);
    // Weights are the file's: bn1's epsilon 1e-6 is applied; check one unit by hand in double.
    BatchNormalization bn1 = (BatchNormalization) layers.get(1);
    Dense fc1 = (Dense) layers.get(0);
    float[] x = new float[16];
    x[0] = 1;
    Tensor h = fc1.call(new Tensor(new int[] {1, 16}, x), false);
    double z = fc1.getWeights().get(0)[0] + fc1.getWeights().get(1)[0];
    assertEquals(z, h.data()[0], 1e-5);
    double expected = bn1.gamma()[0] * (z - bn1.movingMean()[0]) / Math.sqrt(bn1.movingVariance()[0] + 1e-6) + bn1.beta()[0];
    assertEquals(expected, bn1.call(h, false).data()[0], 1e-4 * Math.max(1, Math.abs(expected)));
  }

  @Test
  void tfKeras2RegressionModelLoadsWithAZeroMovingVariance() throws IOException {
    Model m = KerasModels.load(model("tfkeras2.1.6"));
    BatchNormalization first = assertInstanceOf(BatchNormalization.class, m.layers().get(0));
    assertEquals(1, first.axisConfig(), "axis [1] read as 1");
    assertArrayEquals(new int[] {1, 20}, m.inputShape());
    float min = Float.MAX_VALUE, max = 0;
    for (float v : first.movingVariance()) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    // SOURCES.md says 0.0 (numpy's rounded print); the stored float is 1.17e-36: a constant feature either way.
    assertTrue(min < 1e-30f, "a constant feature: moving variance ~0, got " + min);
    assertTrue(max > 1e6, "raw engineering inputs: moving variance up to ~1.7e6, got " + max);
    assertEquals(1, ((Dense) m.layers().get(m.layers().size() - 1)).units());
    // Variance 0 with epsilon 1e-3: the output stays finite.
    Tensor y = m.predict(new Tensor(new int[] {1, 20}, first.movingMean().clone()), 1);
    assertTrue(Float.isFinite(y.data()[0]));
  }

  @Test
  void unsupportedLayerIsNamedWithItsType() {
    Object config = Json.parse("""
        {"class_name": "Sequential", "config": {"name": "s", "layers": [
          {"class_name": "InputLayer", "config": {"batch_shape": [null, 4], "name": "in"}},
          {"class_name": "LeakyReLU", "config": {"name": "leaky", "negative_slope": 0.3}}]}}""");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> dev.vecnorm.model.KerasConfig.fromConfig(config));
    assertTrue(e.getMessage().contains("'leaky'") && e.getMessage().contains("LeakyReLU"), e.getMessage());
  }

  @Test
  void keras3FunctionalInboundNodesAreRead() {
    Object nodes = Json.parse("""
        [{"args": [{"class_name": "__keras_tensor__", "config": {"shape": [null, 4], "dtype": "float32",
          "keras_history": ["dense", 0, 0]}}], "kwargs": {"training": false}}]""");
    assertEquals(List.of("dense"), dev.vecnorm.model.KerasConfig.inboundNames(nodes));
    assertEquals(List.of("a", "b"), dev.vecnorm.model.KerasConfig.inboundNames(Json.parse("[[[\"a\", 0, 0, {}], [\"b\", 0, 0, {}]]]")));
  }
}
