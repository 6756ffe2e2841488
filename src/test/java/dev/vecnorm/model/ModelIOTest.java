package dev.vecnorm.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vecnorm.io.Json;
import dev.vecnorm.layers.Dense;
import dev.vecnorm.layers.Layer;
import dev.vecnorm.layers.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Issue 10 item 8: every config key honoured or rejected by name; damaged weights name the file, tensor and bytes. */
class ModelIOTest {

  @TempDir Path dir;
  Path saved;
  Sequential model;
  Tensor[] data;

  /** SequentialTest's model (Dense d1 [2x16, no bias], BN, tanh, Dense d2 [16x3 + 3]) after one epoch. */
  @BeforeEach
  void save() throws IOException {
    data = SequentialTest.blobs(30, 4);
    model = SequentialTest.model();
    model.compile(Optimizer.sgd(0.05), Loss.sparseCategoricalCrossentropy(true), List.of());
    model.fit(data[0], data[1], FitOptions.defaults().epochs(1).verbose(0));
    saved = dir.resolve("m");
    ModelIO.save(model, saved);
  }

  /** Edits the config of layer {@code index} in config.json. */
  @SuppressWarnings("unchecked")
  private void editLayer(int index, Consumer<Map<String, Object>> edit) throws IOException {
    Path file = saved.resolve("config.json");
    Map<String, Object> root = (Map<String, Object>) Json.parse(Files.readString(file));
    List<Object> layers = (List<Object>) ((Map<String, Object>) root.get("config")).get("layers");
    edit.accept((Map<String, Object>) ((Map<String, Object>) layers.get(index)).get("config"));
    Files.writeString(file, Json.write(root));
  }

  private IOException loadFails(String... fragments) {
    IOException e = assertThrows(IOException.class, () -> ModelIO.load(saved));
    for (String f : fragments) assertTrue(e.getMessage().contains(f), "'" + f + "' missing from: " + e.getMessage());
    return e;
  }

  @Test
  void denseActivationIsHonoured() throws IOException {
    editLayer(3, c -> c.put("activation", "relu"));
    Sequential loaded = ModelIO.load(saved);
    float[] logits = model.predict(data[0], 8).data(), relu = loaded.predict(data[0], 8).data();
    boolean anyNegative = false;
    for (int i = 0; i < logits.length; i++) {
      anyNegative |= logits[i] < 0;
      assertEquals(Math.max(logits[i], 0f), relu[i], "output " + i);
    }
    assertTrue(anyNegative, "the test must see ReLU clip something");
    editLayer(3, c -> c.put("activation", "gelu"));
    loadFails("config.json", "layers[3]", "d2", "gelu");
  }

  @Test
  void denseRegularizersAndConstraintsRoundTrip() throws IOException {
    Map<String, Object> l2 = Map.of("class_name", "L2", "config", Map.of("l2", 0.5));
    Map<String, Object> nonNeg = Map.of("class_name", "NonNeg", "config", Map.of());
    editLayer(3, c -> {
      c.put("bias_regularizer", l2);
      c.put("bias_constraint", nonNeg);
    });
    Dense d2 = (Dense) ModelIO.load(saved).layers().get(3);
    assertEquals(l2, d2.getConfig().get("bias_regularizer"));
    assertEquals(nonNeg, d2.getConfig().get("bias_constraint"));
    float[] bias = d2.getWeights().get(1);
    double expected = 0;
    for (float b : bias) expected += 0.5 * b * b;
    assertEquals(expected, d2.regularizationLoss(), 1e-9 * (1 + expected), "bias_regularizer is applied");

    editLayer(3, c -> c.put("kernel_constraint", Map.of("class_name", "MaxNorm", "config", Map.of("max_value", 2.0, "axis", 0.0))));
    loadFails("kernelConstraint", "MaxNorm");
    editLayer(3, c -> {
      c.remove("kernel_constraint");
      c.put("activity_regularizer", l2);
    });
    loadFails("activity_regularizer");
  }

  @Test
  void nonIntegralSizesAreRejected() throws IOException {
    editLayer(3, c -> c.put("units", 3.7));
    loadFails("'units'", "3.7");
    editLayer(3, c -> c.put("units", 3.0));
    editLayer(1, c -> c.put("axis", 1.5));
    loadFails("'axis'", "1.5", "layers[1]");
  }

  @ParameterizedTest
  @ValueSource(ints = {0, 1, 2, 3})
  void unknownKeysAreRejectedByName(int layer) throws IOException {
    editLayer(layer, c -> c.put("kernel_regularizr", null));
    loadFails("kernel_regularizr", "layers[" + layer + "]");
  }

  @Test
  void hugeDenseLayersAreRejectedBeforeAllocation() throws IOException {
    for (double units : new double[] {2147483647, 715827883, 1e9}) {
      editLayer(3, c -> c.put("units", units));
      IOException e = loadFails("d2");
      assertTrue(e.getCause() instanceof IllegalArgumentException, String.valueOf(e.getCause()));
    }
    // The layer API itself: overflow-checked element counts, and the heap as a cap.
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Dense(715827883).build(new int[] {1, 3}));
    assertTrue(e.getMessage().contains("2147483649"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> new Dense(2147483647).build(new int[] {1, 1}));
    assertThrows(IllegalArgumentException.class, () -> new Sequential(new Dense(400_000_000)).build(1, 4));
  }

  @Test
  void truncatedWeightsNameTheFileTheTensorAndTheBytes() throws IOException {
    Path weights = saved.resolve("weights.bin");
    byte[] full = Files.readAllBytes(weights);
    // Layout: 8 magic, 4 layer count; d1: 4 count, 4 n, 32*4 kernel; bn: 4 count, 4 x (4 n + 16*4); ...
    for (int cut = 0; cut < full.length; cut += cut < 48 ? 1 : 7) { // every header byte, then a sample of the data
      Files.write(weights, java.util.Arrays.copyOf(full, cut));
      IOException e = assertThrows(IOException.class, () -> ModelIO.load(saved), "cut at " + cut);
      String m = e.getMessage();
      assertTrue(m.contains("weights.bin") && m.contains("expected") && m.contains("found"), "cut at " + cut + ": " + m);
      if (cut >= 12) assertTrue(m.contains("layer '"), "cut at " + cut + ": " + m);
    }
    Files.write(weights, java.util.Arrays.copyOf(full, 20 + 10));
    loadFails("layer 'd1' weight 'kernel'", "expected 128 bytes", "found 10");
    byte[] extra = java.util.Arrays.copyOf(full, full.length + 3);
    Files.write(weights, extra);
    loadFails("3 unexpected bytes");
  }

  @Test
  void corruptCountsNameTheTensor() throws IOException {
    Path weights = saved.resolve("weights.bin");
    byte[] full = Files.readAllBytes(weights);
    for (int bad : new int[] {-1, Integer.MIN_VALUE, Integer.MAX_VALUE, 31}) {
      byte[] b = full.clone();
      java.nio.ByteBuffer.wrap(b).putInt(16, bad); // d1 kernel's element count
      Files.write(weights, b);
      loadFails("layer 'd1' weight 'kernel'", "has " + bad + " elements", "builds 32");
    }
    byte[] b = full.clone();
    java.nio.ByteBuffer.wrap(b).putInt(12, 5); // d1's weight count
    Files.write(weights, b);
    loadFails("layer 'd1' has 5 weights");
  }

  @Test
  void damagedConfigsNameTheFile() throws IOException {
    Path config = saved.resolve("config.json");
    String good = Files.readString(config);
    for (String bad : new String[] {"[".repeat(100_000), good + "x", good.replace("\"Sequential\"", "\"Functional\""),
        good.replace("\"build_input_shape\"", "\"build_input_shap\""), good.replace("\"Dense\"", "\"Conv2D\"")}) {
      Files.writeString(config, bad);
      loadFails("config.json");
    }
  }

  @Test
  void aModelWithEveryLayerKindRoundTrips() throws IOException {
    Sequential m = new Sequential(new dev.vecnorm.layers.Flatten("flat"),
        Dense.builder(5).activation("sigmoid").name("s").build(), new dev.vecnorm.layers.Dropout(0.25, 3, "drop"),
        dev.vecnorm.layers.Activation.relu(), Dense.builder(4).name("out").build(), dev.vecnorm.layers.Activation.softmax());
    m.build(2, 3, 2);
    ModelIO.save(m, dir.resolve("all"));
    Sequential loaded = ModelIO.load(dir.resolve("all"));
    Tensor x = new Tensor(new int[] {2, 3, 2}, new float[] {1, -2, 3, -4, 5, -6, 0.5f, 0.25f, -1, 2, -3, 4});
    assertArrayEquals(m.predict(x, 2).data(), loaded.predict(x, 2).data());
    for (int i = 0; i < m.layers().size(); i++) {
      Layer a = m.layers().get(i), b = loaded.layers().get(i);
      assertEquals(a.getConfig().toString(), b.getConfig().toString());
    }
  }

  @Test
  void aFailedSaveLeavesTheEarlierSaveLoadable() throws IOException {
    float[] before = ModelIO.load(saved).predict(data[0], 8).data();
    Sequential other = SequentialTest.model();
    other.build(1, 2);
    Path blocker = Files.createDirectories(saved.resolve("weights.bin.tmp").resolve("x")); // the temporary cannot be written
    assertThrows(IOException.class, () -> ModelIO.save(other, saved));
    Files.delete(blocker);
    assertArrayEquals(before, ModelIO.load(saved).predict(data[0], 8).data());
    assertTrue(Files.notExists(saved.resolve("config.json.tmp")));
  }
}
