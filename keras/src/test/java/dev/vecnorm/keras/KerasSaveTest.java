package dev.vecnorm.keras;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vecnorm.io.Json;
import dev.vecnorm.layers.Activation;
import dev.vecnorm.layers.BatchNormalization;
import dev.vecnorm.layers.Dense;
import dev.vecnorm.layers.Dropout;
import dev.vecnorm.layers.Tensor;
import dev.vecnorm.model.Model;
import dev.vecnorm.model.Sequential;
import io.jhdf.HdfFile;
import io.jhdf.api.Dataset;
import io.jhdf.api.Group;
import io.jhdf.api.Node;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.zip.ZipFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code .keras} files written here: read back, and laid out as Keras 3.11.3 lays out the same architecture. */
class KerasSaveTest {
  @TempDir Path dir;

  static Sequential mlp() {
    Sequential m = new Sequential(
        Dense.builder(6).activation("relu").name("dense").kernelInitializer(dev.vecnorm.layers.Initializer.glorotUniform(1)).build(),
        BatchNormalization.builder().name("batch_normalization").momentum(0.99).build(),
        new Dropout(0.4, 3, "dropout"),
        Dense.builder(3).activation("softmax").name("dense_1").kernelInitializer(dev.vecnorm.layers.Initializer.glorotUniform(2)).build());
    m.build(1, 5);
    // Moving statistics and gamma/beta away from their initial values, so a swapped weight would show.
    SplittableRandom r = new SplittableRandom(7);
    for (var l : m.layers()) for (var p : l.parameters()) for (int i = 0; i < p.value().length; i++) p.value()[i] = (float) (0.5 + r.nextDouble());
    return m;
  }

  @Test
  void savedFileReadsBackToTheSamePredictions() throws IOException {
    Sequential m = mlp();
    Path f = dir.resolve("m.keras");
    KerasModels.save(m, f);
    Model back = KerasModels.load(f);
    float[] x = new float[4 * 5];
    for (int i = 0; i < x.length; i++) x[i] = (float) Math.sin(i);
    Tensor in = new Tensor(new int[] {4, 5}, x);
    assertArrayEquals(m.predict(in, 4).data(), back.predict(in, 4).data(), 0f);
    assertEquals(Json.write(m.layers().get(1).getConfig()), Json.write(back.layers().get(1).getConfig()));
    try (ZipFile zip = new ZipFile(f.toFile())) {
      Map<?, ?> meta = (Map<?, ?>) Json.parse(new String(zip.getInputStream(zip.getEntry("metadata.json")).readAllBytes()));
      assertEquals(KerasModels.KERAS_FORMAT_VERSION, meta.get("keras_version"));
      String config = new String(zip.getInputStream(zip.getEntry("config.json")).readAllBytes());
      assertTrue(config.contains("\"momentum\" : 0.99,"), "momentum written as 0.99");
    }
  }

  /** Every group and dataset below the root with its shape (datasets) or its attributes (groups), optimizer state left out. */
  static Map<String, String> layout(Path weightsH5) throws IOException {
    Map<String, String> out = new TreeMap<>();
    try (HdfFile h5 = new HdfFile(weightsH5)) {
      walk(h5, out);
    }
    out.keySet().removeIf(k -> k.startsWith("/optimizer"));
    return out;
  }

  private static void walk(Group g, Map<String, String> out) {
    for (Node n : g) {
      if (n instanceof Dataset d) {
        out.put(n.getPath(), Arrays.toString(d.getDimensions()) + " " + d.getJavaType().getSimpleName());
      } else {
        TreeMap<String, Object> attrs = new TreeMap<>();
        n.getAttributes().forEach((k, v) -> attrs.put(k, v.getData()));
        out.put(n.getPath(), attrs.toString());
        walk((Group) n, out);
      }
    }
  }

  static Path extract(Path keras, Path to) throws IOException {
    try (ZipFile zip = new ZipFile(keras.toFile())) {
      Files.write(to, zip.getInputStream(zip.getEntry("model.weights.h5")).readAllBytes());
    }
    return to;
  }

  @Test
  void layoutMatchesTheRealKeras3FileForTheSameArchitecture() throws IOException {
    Path real = KerasModelsTest.model("keras3.11.3_");
    // Same architecture, same names: the real model read in and written out again.
    Model m = KerasModels.load(real);
    Path ours = dir.resolve("ours.keras");
    KerasModels.save(m, ours);
    Map<String, String> expected = layout(extract(real, dir.resolve("real.h5"))), actual = layout(extract(ours, dir.resolve("ours.h5")));
    // Every group (the empty root "vars" and the weightless layers' "vars" included), every dataset's
    // shape and type, every group's attributes: the same, optimizer state aside.
    assertEquals(expected, actual);
    assertEquals("{name=sequential}", actual.get("/vars/"));
    assertEquals("{name=dropout_1}", actual.get("/layers/dropout_1/vars/"));
    assertEquals(2 + 7 * 2 + 3 * 2 + 2 * 4, expected.size(), "/layers, /vars; per layer its group and vars; 3 Dense and 2 BN datasets");
    // And config.json: the same layer classes and the same layer config values (dtype written as a string).
    try (ZipFile a = new ZipFile(real.toFile()); ZipFile b = new ZipFile(ours.toFile())) {
      List<?> la = layers(a), lb = layers(b);
      assertEquals(la.size(), lb.size());
      for (int i = 0; i < la.size(); i++) {
        Map<?, ?> ea = (Map<?, ?>) la.get(i), eb = (Map<?, ?>) lb.get(i);
        assertEquals(ea.get("class_name"), eb.get("class_name"));
        Map<?, ?> ca = (Map<?, ?>) ea.get("config"), cb = (Map<?, ?>) eb.get("config");
        for (Object k : cb.keySet()) {
          if (List.of("dtype", "kernel_initializer", "bias_initializer", "beta_initializer", "gamma_initializer", "moving_mean_initializer",
              "moving_variance_initializer", "kernel_regularizer", "seed").contains(k)) continue;
          assertEquals(ca.get(k), cb.get(k), ea.get("class_name") + " key " + k);
        }
        assertEquals(ea.get("build_config"), eb.get("build_config"), "build_config of " + ca.get("name"));
      }
      // The entry keys Keras 3's deserialize_keras_object reads at the top: the same, except
      // compile_config, which we leave out (no optimizer state is written; Keras loads uncompiled).
      Map<?, ?> ra = (Map<?, ?>) Json.parse(text(a, "config.json")), rb = (Map<?, ?>) Json.parse(text(b, "config.json"));
      assertEquals(List.of("module", "class_name", "config", "registered_name", "build_config", "compile_config"), List.copyOf(ra.keySet()));
      assertEquals(List.of("module", "class_name", "config", "registered_name", "build_config"), List.copyOf(rb.keySet()));
      for (String k : List.of("module", "class_name", "registered_name", "build_config")) assertEquals(ra.get(k), rb.get(k), k);
      Map<?, ?> ma = (Map<?, ?>) Json.parse(text(a, "metadata.json")), mb = (Map<?, ?>) Json.parse(text(b, "metadata.json"));
      assertEquals(ma.keySet(), mb.keySet());
      assertEquals(ma.get("keras_version"), mb.get("keras_version"));
      String datePattern = "\\d{4}-\\d{2}-\\d{2}@\\d{2}:\\d{2}:\\d{2}";
      assertTrue(((String) ma.get("date_saved")).matches(datePattern) && ((String) mb.get("date_saved")).matches(datePattern), mb.toString());
      // Same entries in the same order, stored uncompressed as Python's zipfile writes them.
      assertEquals(entries(a), entries(b));
    }
  }

  /**
   * The HDF5 C library's view (h5dump, skipped when absent): the real file re-saved by us dumps line for
   * line like the real one, every value and every attribute's type and value included, once the real
   * file's optimizer group (Adam state, which we do not write) is cut out. Also what h5ls -r lists.
   */
  @Test
  void h5dumpPrintsOurFileAsItPrintsTheRealKeras3File() throws IOException {
    Path real = KerasModelsTest.model("keras3.11.3_");
    Path ours = dir.resolve("ours.keras");
    KerasModels.save(KerasModels.load(real), ours);
    Path realH5 = extract(real, dir.resolve("real.h5")), oursH5 = extract(ours, dir.resolve("ours.h5"));
    String a = Hdf5WriterTest.h5dump(realH5), b = Hdf5WriterTest.h5dump(oursH5);
    org.junit.jupiter.api.Assumptions.assumeTrue(a != null, "h5dump is not on the PATH (Debian: apt-get install hdf5-tools)");
    List<String> expected = withoutGroup(a.lines().skip(1).toList(), "optimizer"), actual = b.lines().skip(1).toList();
    assertTrue(expected.size() > 60_000, "the weights are printed: " + expected.size() + " lines");
    assertEquals(expected, actual);
  }

  /** The dump's lines without the block {@code GROUP "name" { ... }}, found by brace depth. */
  private static List<String> withoutGroup(List<String> lines, String name) {
    List<String> out = new java.util.ArrayList<>();
    int depth = 0;
    for (String l : lines) {
      if (depth == 0 && l.strip().equals("GROUP \"" + name + "\" {")) {
        depth = 1;
      } else if (depth > 0) {
        depth += (int) (l.chars().filter(c -> c == '{').count() - l.chars().filter(c -> c == '}').count());
      } else {
        out.add(l);
      }
    }
    return out;
  }

  private static String text(ZipFile zip, String name) throws IOException {
    return new String(zip.getInputStream(zip.getEntry(name)).readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
  }

  private static List<String> entries(ZipFile zip) {
    return zip.stream().map(e -> e.getName() + (e.getMethod() == java.util.zip.ZipEntry.STORED ? " stored" : " deflated")).toList();
  }

  private static List<?> layers(ZipFile zip) throws IOException {
    Map<?, ?> root = (Map<?, ?>) Json.parse(new String(zip.getInputStream(zip.getEntry("config.json")).readAllBytes()));
    return (List<?>) ((Map<?, ?>) root.get("config")).get("layers");
  }

  @Test
  void aFusedReluIsRefusedBeforeAnythingIsWritten() {
    Sequential m = new Sequential(Dense.builder(4).name("d").build(), BatchNormalization.builder().activation("relu").name("bn").build(),
        Activation.softmax());
    m.build(1, 3);
    Path f = dir.resolve("x.keras");
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> KerasModels.save(m, f));
    assertTrue(e.getMessage().contains("bn"), e.getMessage());
    assertFalse(Files.exists(f));
  }

  @Test
  void functionalResidualModelRoundTripsThroughDotKeras() throws IOException {
    dev.vecnorm.layers.SymbolicTensor x = dev.vecnorm.layers.Input.shape(6);
    dev.vecnorm.layers.SymbolicTensor h = BatchNormalization.builder().name("bn_r").build()
        .apply(Dense.builder(6).name("d_r").kernelInitializer(dev.vecnorm.layers.Initializer.glorotUniform(3)).build().apply(x));
    dev.vecnorm.layers.SymbolicTensor y = new Activation(Activation.Kind.RELU, "relu_r").apply(new dev.vecnorm.layers.Add("add_r").apply(h, x));
    dev.vecnorm.layers.SymbolicTensor c = new dev.vecnorm.layers.Concatenate("cat_r").apply(y, x);
    Model m = new Model(x, Dense.builder(2).activation("softmax").name("out_r").build().apply(c));
    SplittableRandom r = new SplittableRandom(9);
    for (var l : m.layers()) for (var p : l.parameters()) for (int i = 0; i < p.value().length; i++) p.value()[i] = (float) (0.5 + r.nextDouble());
    Path f = dir.resolve("f.keras");
    KerasModels.save(m, f);
    Model back = KerasModels.load(f);
    assertEquals(1, back.fusedBlocks(), "the residual tail is fused again after loading");
    float[] data = new float[3 * 6];
    for (int i = 0; i < data.length; i++) data[i] = (float) Math.cos(i);
    Tensor in = new Tensor(new int[] {3, 6}, data);
    assertArrayEquals(m.predict(in, 3).data(), back.predict(in, 3).data(), 0f);
    try (ZipFile zip = new ZipFile(f.toFile())) {
      Map<?, ?> root = (Map<?, ?>) Json.parse(new String(zip.getInputStream(zip.getEntry("config.json")).readAllBytes()));
      assertEquals("Functional", root.get("class_name"));
    }
    // Functional.layers keeps the InputLayer (Sequential.layers does not): Keras writes its empty vars.
    Map<String, String> layout = layout(extract(f, dir.resolve("f.h5")));
    assertEquals("{name=input_layer}", layout.get("/layers/input_layer/vars/"));
    assertEquals("{name=functional}", layout.get("/vars/"));
    assertEquals("[6, 6] float", layout.get("/layers/dense/vars/0"));
    assertEquals("{name=d_r}", layout.get("/layers/dense/vars/"));
  }

  @Test
  void weightsLiveUnderTheClassNameNotTheLayerName() {
    // Keras 3's saving_lib: snake case of the class, numbered per class in layer order.
    Map<String, String> paths = KerasModels.weightPaths(List.of(new String[] {"in", "InputLayer"}, new String[] {"fc1", "Dense"},
        new String[] {"bn", "BatchNormalization"}, new String[] {"fc2", "Dense"}, new String[] {"act", "ReLU"}, new String[] {"fc3", "Dense"}));
    assertEquals(Map.of("in", "layers/input_layer", "fc1", "layers/dense", "bn", "layers/batch_normalization", "fc2", "layers/dense_1",
        "act", "layers/re_lu", "fc3", "layers/dense_2"), paths);
  }
}
