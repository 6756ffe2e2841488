package dev.vecnorm.layers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.vecnorm.MovingVariance;
import dev.vecnorm.io.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * BatchNormalization configs written by Keras itself (../shared/keras_configs, see its SOURCES.md: Keras
 * 3.14.1, tf.keras 2.15.0, 2.12.0 and 2.2.4-tf). The files are not part of the project (no licence), so
 * the tests read them from the shared directory next to the worktree and are skipped when it is absent.
 */
class KerasConfigTest {
  static final Path CONFIGS = Path.of("..", "shared", "keras_configs");

  /** The keyword arguments Keras 3.14's BatchNormalization accepts (SOURCES.md: the layer's own plus Layer's). */
  static final Set<String> KERAS3_ACCEPTS = Set.of("axis", "momentum", "epsilon", "center", "scale", "beta_initializer",
      "gamma_initializer", "moving_mean_initializer", "moving_variance_initializer", "beta_regularizer", "gamma_regularizer",
      "beta_constraint", "gamma_constraint", "synchronized", "renorm", "renorm_clipping", "renorm_momentum",
      "activity_regularizer", "trainable", "dtype", "autocast", "name", "input_dim", "input_shape");

  static List<Path> files() throws IOException {
    assumeTrue(Files.isDirectory(CONFIGS), "no " + CONFIGS.toAbsolutePath() + ": the real Keras configs are not on this machine");
    try (Stream<Path> s = Files.list(CONFIGS)) {
      return s.filter(p -> p.toString().endsWith(".json")).sorted().toList();
    }
  }

  /** Every {@code {"class_name": "BatchNormalization", "config": {...}}} anywhere in the document. */
  static void collect(Object o, List<Map<String, Object>> out) {
    if (o instanceof Map<?, ?> m) {
      if ("BatchNormalization".equals(m.get("class_name")) && m.get("config") instanceof Map<?, ?> c) {
        @SuppressWarnings("unchecked")
        Map<String, Object> config = (Map<String, Object>) c;
        out.add(config);
      }
      for (Object v : m.values()) collect(v, out);
    } else if (o instanceof List<?> l) {
      for (Object v : l) collect(v, out);
    }
  }

  static List<Map<String, Object>> bnConfigs(Path file) throws IOException {
    List<Map<String, Object>> out = new ArrayList<>();
    collect(Json.parse(Files.readString(file)), out);
    return out;
  }

  @Test
  void everyRealConfigLoadsWithItsValues() throws IOException {
    List<Path> files = files();
    assertEquals(4, files.size(), "the four files of SOURCES.md");
    int layers = 0;
    for (Path f : files) {
      List<Map<String, Object>> configs = bnConfigs(f);
      assertFalse(configs.isEmpty(), f + " has BatchNormalization layers");
      for (Map<String, Object> c : configs) {
        BatchNormalization bn = BatchNormalization.fromConfig(c);
        layers++;
        // Expected values straight from the file (not from the code under test).
        Object axis = c.get("axis");
        int expectedAxis = axis instanceof List<?> l ? ((Double) l.get(0)).intValue() : ((Double) axis).intValue();
        assertEquals(expectedAxis, bn.axisConfig(), f.getFileName() + " " + c.get("name"));
        assertEquals((Double) c.get("momentum"), bn.momentum(), 0.0, "momentum kept as the decimal in the file");
        assertEquals((Double) c.get("epsilon"), bn.epsilon(), 0.0);
        assertEquals(c.get("name"), bn.name());
      }
    }
    assertEquals(5 + 5 + 4 + 1, layers, "BN entries in the four files (SOURCES.md: 5, 5, 2 twice, 1)");
  }

  @Test
  void exportedConfigsHaveOnlyKeysKeras3AcceptsAndTheSameValues() throws IOException {
    for (Path f : files()) {
      for (Map<String, Object> c : bnConfigs(f)) {
        Map<String, Object> out = BatchNormalization.fromConfig(c).kerasConfig();
        for (String k : out.keySet()) assertTrue(KERAS3_ACCEPTS.contains(k), f.getFileName() + ": Keras 3 refuses key " + k);
        String json = Json.write(out);
        assertTrue(json.contains("\"momentum\" : 0.99"), "0.99 is written as 0.99: " + json);
        assertFalse(json.contains("0.9900000095367432"));
        // The keys the file and the export share carry the same values, once both are read back.
        for (String k : List.of("momentum", "epsilon", "center", "scale", "name", "trainable")) {
          assertEquals(c.get(k), ((Map<?, ?>) Json.parse(json)).get(k), f.getFileName() + " key " + k);
        }
        BatchNormalization again = BatchNormalization.fromConfig(out);
        assertEquals(json, Json.write(again.kerasConfig()), "the export round-trips");
      }
    }
  }

  @Test
  void keras3FileIsReproducedKeyForKeyApartFromTheDtypeObject() throws IOException {
    Path f = files().stream().filter(p -> p.getFileName().toString().startsWith("keras3")).findFirst().orElseThrow();
    for (Map<String, Object> c : bnConfigs(f)) {
      Map<String, Object> out = BatchNormalization.fromConfig(c).kerasConfig();
      Map<String, Object> expected = new HashMap<>(c);
      expected.put("dtype", "float32"); // Keras 3 accepts the plain string as well as its DTypePolicy object
      for (String k : List.of("beta_initializer", "gamma_initializer", "moving_mean_initializer", "moving_variance_initializer")) {
        Map<String, Object> init = new HashMap<>((Map<String, Object>) c.get(k));
        init.remove("module");
        init.remove("registered_name");
        expected.put(k, init);
      }
      // renorm=false: Keras before 3.14 refuses renorm keys, so the export leaves them out.
      expected.remove("renorm");
      expected.remove("renorm_clipping");
      expected.remove("renorm_momentum");
      assertEquals(Json.parse(Json.write(new java.util.TreeMap<>(expected))), Json.parse(Json.write(new java.util.TreeMap<>(out))));
    }
  }

  @Test
  void vecnormOnlyFeaturesAreWrittenOnlyWhenUsedAndRefusedForKeras() {
    Map<String, Object> plain = BatchNormalization.create().getConfig();
    assertFalse(plain.containsKey("moving_variance_mode"));
    assertFalse(plain.containsKey("activation"));
    assertFalse(plain.containsKey("renorm"));
    BatchNormalization fused = BatchNormalization.builder().activation("relu").build();
    assertEquals("relu", fused.getConfig().get("activation"));
    IllegalStateException e = assertThrows(IllegalStateException.class, fused::kerasConfig);
    assertTrue(e.getMessage().contains("Activation(\"relu\")"), e.getMessage());
    BatchNormalization unbiased = BatchNormalization.builder().movingVariance(MovingVariance.UNBIASED).build();
    assertEquals("unbiased", unbiased.getConfig().get("moving_variance_mode"));
    assertTrue(assertThrows(IllegalStateException.class, unbiased::kerasConfig).getMessage().contains("moving_variance_mode"));
    assertEquals(BatchNormalization.fromConfig(unbiased.getConfig()).getConfig(), unbiased.getConfig());
  }

  @Test
  void formsKerasDoesNotWriteAreRejectedByName() {
    Map<String, Object> c = new HashMap<>(BatchNormalization.create().getConfig());
    c.put("axis", List.of(1.0, 2.0));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> BatchNormalization.fromConfig(c)).getMessage().contains("axis"));
    c.put("axis", List.of(1.5));
    assertThrows(IllegalArgumentException.class, () -> BatchNormalization.fromConfig(c));
    c.put("axis", -1.0);
    c.put("dtype", Map.of("class_name", "DTypePolicy", "config", Map.of("name", "mixed_float16")));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> BatchNormalization.fromConfig(c)).getMessage().contains("mixed_float16"));
    c.put("dtype", "float32");
    c.put("gamma_initializer", Map.of("class_name", "Ones", "config", Map.of(), "registered_name", "my_pkg>MyOnes"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> BatchNormalization.fromConfig(c)).getMessage().contains("my_pkg>MyOnes"));
    c.remove("gamma_initializer");
    c.put("activity_regularizer", Map.of("class_name", "L2", "config", Map.of("l2", 0.1)));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> BatchNormalization.fromConfig(c)).getMessage().contains("activity_regularizer"));
  }

  @Test
  void keras2VarianceScalingInitializersFillWithTheirStatedSpread() {
    // Keras 2 writes glorot_uniform as VarianceScaling(1, fan_avg, uniform), with "dtype" inside (tf.keras 2.1).
    Object config = Json.parse("""
        {"class_name": "VarianceScaling", "config": {"dtype": "float32", "mode": "fan_avg", "scale": 1.0, "seed": null,
         "distribution": "uniform"}}""");
    Initializer init = Initializer.fromConfig(config);
    float[] w = new float[200 * 100];
    init.fill(w, 200, 100);
    double limit = Math.sqrt(3.0 / 150), max = 0, sq = 0;
    for (float v : w) {
      max = Math.max(max, Math.abs(v));
      sq += (double) v * v;
    }
    assertTrue(max <= limit && max > 0.99 * limit, "uniform in +-sqrt(3/150): max |w| " + max);
    // Variance of U(-l, l) is l^2/3: scale / n = 1/150; 20000 draws put the estimate within a few percent.
    assertEquals(1.0 / 150, sq / w.length, 0.05 / 150);
    assertEquals(init, Initializer.fromConfig(init.toConfig()));
    Object bad = Json.parse("{\"class_name\": \"VarianceScaling\", \"config\": {\"mode\": \"fan_sum\"}}");
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Initializer.fromConfig(bad)).getMessage().contains("fan_sum"));
  }
}
