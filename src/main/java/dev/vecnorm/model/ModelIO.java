package dev.vecnorm.model;

import dev.vecnorm.io.Json;
import dev.vecnorm.layers.Activation;
import dev.vecnorm.layers.BatchNormalization;
import dev.vecnorm.layers.Dense;
import dev.vecnorm.layers.Dropout;
import dev.vecnorm.layers.Flatten;
import dev.vecnorm.layers.Layer;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Saves a {@link Sequential} or a functional {@link Model} as a directory of two files (a functional model's
 * config.json is Keras 3's Functional config, see {@link KerasConfig}; {@link #loadModel} reads both kinds):
 * <ul>
 *   <li>{@code config.json}: {@code {"class_name": "Sequential", "config": {"name", "layers": [{"class_name",
 *       "config"}...], "build_input_shape": [null, ...]}}} with Keras's layer key names;</li>
 *   <li>{@code weights.bin}: the ASCII magic {@code VECNORM1}, then big-endian int32 layer count; per layer
 *       an int32 weight count; per weight an int32 element count followed by that many float32 values,
 *       little-endian, in Keras's {@code get_weights()} order.</li>
 * </ul>
 * Loading rebuilds the layers from the config and sets the weights, so predictions are bit-identical.
 * Loading is strict: every key is honoured or rejected by name (a Dense {@code activation} is computed,
 * {@code units} 3.7 is an error, not 3), sizes are checked before anything is allocated, and a damaged
 * file is an {@code IOException} naming the file, the layer and weight, and the bytes expected and found.
 */
public final class ModelIO {
  private static final byte[] MAGIC = "VECNORM1".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

  private ModelIO() {}

  /**
   * Writes config.json and weights.bin into {@code dir} (created if needed). Both are written to
   * temporaries and then moved into place, so a save that throws leaves an earlier save there intact.
   *
   * @param model a built model; not null
   * @param dir directory to write to, created if needed
   * @throws IOException if a file cannot be written; an earlier save in {@code dir} is then left intact
   */
  public static void save(Model model, Path dir) throws IOException {
    if (model.inputShape() == null) throw new IllegalStateException("build or fit the model before saving it");
    Map<String, Object> root = model instanceof Sequential seq ? sequentialConfig(seq) : KerasConfig.functionalConfig(model, false);
    Files.createDirectories(dir);
    // Both files go to temporaries first: a save that fails (disk full, a bad path) replaces nothing,
    // so an earlier save in the same directory stays loadable.
    Path configTmp = dir.resolve("config.json.tmp"), weightsTmp = dir.resolve("weights.bin.tmp");
    try {
      Files.writeString(configTmp, Json.write(root) + "\n");
      writeWeights(model, weightsTmp);
      Files.move(weightsTmp, dir.resolve("weights.bin"), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      Files.move(configTmp, dir.resolve("config.json"), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException | RuntimeException e) {
      for (Path tmp : List.of(configTmp, weightsTmp)) {
        try {
          Files.deleteIfExists(tmp);
        } catch (IOException cleanup) {
          e.addSuppressed(cleanup);
        }
      }
      throw e;
    }
  }

  private static Map<String, Object> sequentialConfig(Sequential model) {
    List<Object> layers = new ArrayList<>();
    for (Layer l : model.layers()) {
      Map<String, Object> entry = new LinkedHashMap<>();
      entry.put("class_name", l.className());
      entry.put("config", l.getConfig());
      layers.add(entry);
    }
    List<Object> shape = new ArrayList<>();
    shape.add(null);
    int[] s = model.inputShape();
    for (int i = 1; i < s.length; i++) shape.add((double) s[i]);
    Map<String, Object> config = new LinkedHashMap<>();
    config.put("name", "sequential");
    config.put("layers", layers);
    config.put("build_input_shape", shape);
    Map<String, Object> root = new LinkedHashMap<>();
    root.put("class_name", "Sequential");
    root.put("config", config);
    return root;
  }

  private static void writeWeights(Model model, Path file) throws IOException {
    try (DataOutputStream out = new DataOutputStream(new java.io.BufferedOutputStream(Files.newOutputStream(file)))) {
      out.write(MAGIC);
      out.writeInt(model.layers().size());
      ByteBuffer chunk = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
      for (Layer l : model.layers()) {
        List<float[]> weights = l.getWeights();
        out.writeInt(weights.size());
        for (float[] w : weights) {
          out.writeInt(w.length);
          // In slices: 4 * length overflows int past 512M elements.
          for (int from = 0; from < w.length; from += chunk.capacity() / 4) {
            int k = Math.min(chunk.capacity() / 4, w.length - from);
            chunk.clear();
            chunk.asFloatBuffer().put(w, from, k);
            out.write(chunk.array(), 0, 4 * k);
          }
        }
      }
    }
  }

  /** config.json larger than this is not a model config (and would be read into memory whole). */
  static final long MAX_CONFIG_BYTES = 16L << 20;

  /**
   * Rebuilds a saved model. Every config key is honoured or rejected by name; sizes are checked before
   * anything is allocated; every weight's element count must match what the config builds. Anything
   * wrong with either file throws an {@code IOException} naming the file (and, for weights, the layer,
   * the weight and the bytes expected and found); no model is returned, so nothing half-built escapes.
   *
   * @param dir directory a {@link #save} wrote
   * @return the model, built and with the saved weights
   * @throws IOException if a file is missing or malformed, or holds a functional model; the message names the file
   */
  public static Sequential load(Path dir) throws IOException {
    Model model = loadModel(dir);
    if (model instanceof Sequential s) return s;
    throw new IOException(dir.resolve("config.json") + ": a functional model; load it with loadModel");
  }

  /**
   * {@link #load}, for Sequential and functional models alike: a functional model's config.json is
   * Keras 3's Functional config ({@link KerasConfig}), read with the same strictness.
   *
   * @param dir directory a {@link #save} wrote
   * @return the model, built and with the saved weights
   * @throws IOException if a file is missing or malformed; the message names the file
   */
  public static Model loadModel(Path dir) throws IOException {
    Path configFile = dir.resolve("config.json"), weightsFile = dir.resolve("weights.bin");
    Model model = fromConfig(configFile);
    readWeights(weightsFile, model);
    return model;
  }

  private static Model fromConfig(Path file) throws IOException {
    long size = Files.size(file);
    if (size > MAX_CONFIG_BYTES) throw new IOException(file + ": " + size + " bytes, more than the " + MAX_CONFIG_BYTES + " a model config may have");
    Object parsed;
    try {
      parsed = Json.parse(Files.readString(file));
    } catch (Json.ParseException | java.nio.charset.CharacterCodingException e) {
      throw new IOException(file + ": not valid JSON: " + e.getMessage(), e);
    }
    try {
      if (parsed instanceof Map<?, ?> m && "Functional".equals(m.get("class_name"))) return KerasConfig.fromConfig(parsed);
      Map<?, ?> root = map(parsed, "the top level");
      keys(root, "the top level", "class_name", "config");
      if (!"Sequential".equals(root.get("class_name"))) throw new IllegalArgumentException("class_name must be Sequential, got " + root.get("class_name"));
      Map<?, ?> config = map(root.get("config"), "config");
      keys(config, "config", "name", "layers", "build_input_shape");
      if (config.get("name") != null && !(config.get("name") instanceof String)) {
        throw new IllegalArgumentException("config.name must be a string, got " + config.get("name")); // the model's name: not used for computing
      }
      if (!(config.get("layers") instanceof List<?> layerList)) throw new IllegalArgumentException("config.layers must be a JSON array, got " + config.get("layers"));
      Sequential model = new Sequential();
      for (int i = 0; i < layerList.size(); i++) {
        Map<?, ?> entry = map(layerList.get(i), "layers[" + i + "]");
        String className = String.valueOf(entry.get("class_name"));
        try {
          keys(entry, "an entry", "class_name", "config");
          @SuppressWarnings("unchecked")
          Map<String, Object> c = (Map<String, Object>) map(entry.get("config"), "its config");
          model.add(layerFromConfig(className, c));
        } catch (IllegalArgumentException e) {
          throw new IllegalArgumentException("layers[" + i + "] (" + className + " '" + nameOf(entry) + "'): " + e.getMessage(), e);
        }
      }
      model.build(buildInputShape(config.get("build_input_shape")));
      return model;
    } catch (IllegalArgumentException e) {
      throw new IOException(file + ": " + e.getMessage(), e);
    }
  }

  private static Object nameOf(Map<?, ?> entry) {
    return entry.get("config") instanceof Map<?, ?> c ? c.get("name") : null;
  }

  /** {@code [null, d1, d2, ...]}: the batch dimension unknown, the rest integers >= 1. */
  private static int[] buildInputShape(Object o) {
    if (!(o instanceof List<?> shape) || shape.size() < 2 || shape.get(0) != null) {
      throw new IllegalArgumentException("build_input_shape must be [null, d1, ...] with at least one dimension, got " + o);
    }
    int[] s = new int[shape.size()];
    s[0] = 1;
    for (int i = 1; i < s.length; i++) {
      if (!(shape.get(i) instanceof Double d) || d != Math.rint(d) || d < 1 || d > Integer.MAX_VALUE) {
        throw new IllegalArgumentException("build_input_shape[" + i + "] must be an integer >= 1, got " + shape.get(i));
      }
      s[i] = d.intValue();
    }
    return s;
  }

  /**
   * Reads weights.bin into the built model, checking every count against the config before reading
   * the data it announces, so a damaged file never drives an allocation.
   */
  private static void readWeights(Path file, Model model) throws IOException {
    try (WeightsReader in = new WeightsReader(file)) {
      byte[] magic = in.bytes(MAGIC.length, "the magic " + new String(MAGIC, java.nio.charset.StandardCharsets.US_ASCII));
      if (!java.util.Arrays.equals(magic, MAGIC)) throw new IOException(file + ": not a vecnorm weights file (no VECNORM1 magic)");
      List<Layer> layers = model.layers();
      int layerCount = in.readInt("the layer count");
      if (layerCount != layers.size()) throw new IOException(file + ": has " + layerCount + " layers, config.json has " + layers.size());
      for (Layer l : layers) {
        List<dev.vecnorm.layers.Parameter> params = l.parameters();
        int count = in.readInt("layer '" + l.name() + "': the weight count");
        if (count != params.size()) {
          throw new IOException(file + ": layer '" + l.name() + "' has " + count + " weights in the file, the config builds "
              + params.size());
        }
        List<float[]> weights = new ArrayList<>();
        for (dev.vecnorm.layers.Parameter p : params) {
          String tensor = "layer '" + l.name() + "' weight '" + p.name() + "'";
          int n = in.readInt(tensor + ": the element count");
          int expected = p.value().length;
          if (n != expected) {
            throw new IOException(file + ": " + tensor + " has " + n + " elements in the file, the config builds " + expected);
          }
          weights.add(in.floats(n, tensor));
        }
        l.setWeights(weights);
      }
      in.expectEnd();
    }
  }

  /** Big-endian ints and little-endian floats with errors naming the file, the item, and the bytes expected and found. */
  private static final class WeightsReader implements AutoCloseable {
    private final Path file;
    private final java.io.InputStream in;
    private long offset;

    WeightsReader(Path file) throws IOException {
      this.file = file;
      this.in = new java.io.BufferedInputStream(Files.newInputStream(file), 1 << 16);
    }

    byte[] bytes(int n, String what) throws IOException {
      byte[] b = in.readNBytes(n);
      if (b.length < n) {
        throw new IOException(file + ": truncated at " + what + ": expected " + n + " bytes at offset " + offset + ", found " + b.length);
      }
      offset += n;
      return b;
    }

    int readInt(String what) throws IOException {
      return ByteBuffer.wrap(bytes(4, what)).getInt();
    }

    /** n floats, read in slices so memory stays at the destination array. */
    float[] floats(int n, String tensor) throws IOException {
      float[] w = new float[n];
      long expected = 4L * n, start = offset;
      byte[] chunk = new byte[(int) Math.min(expected, 1 << 16)];
      for (int done = 0; done < n; ) {
        int k = Math.min(chunk.length / 4, n - done);
        int got = in.readNBytes(chunk, 0, 4 * k);
        if (got < 4 * k) {
          throw new IOException(file + ": truncated in " + tensor + ": expected " + expected + " bytes of float32 data at offset "
              + start + ", found " + (offset - start + got));
        }
        ByteBuffer.wrap(chunk, 0, 4 * k).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(w, done, k);
        offset += 4L * k;
        done += k;
      }
      return w;
    }

    void expectEnd() throws IOException {
      long extra = in.transferTo(java.io.OutputStream.nullOutputStream());
      if (extra > 0) throw new IOException(file + ": " + extra + " unexpected bytes after the last tensor (offset " + offset + ")");
    }

    @Override
    public void close() throws IOException {
      in.close();
    }
  }

  /**
   * A layer from its Keras class name and config; every key is honoured or rejected by name
   * ({@code IllegalArgumentException}). Public for readers of Keras's own files (the keras module).
   *
   * @param className Keras class name, for example {@code "Dense"}
   * @param c the layer's Keras config, as parsed JSON
   * @return the layer, not built
   */
  public static Layer layerFromConfig(String className, Map<String, Object> c) {
    return switch (className) {
      case "Dense" -> Dense.fromConfig(c);
      case "BatchNormalization" -> BatchNormalization.fromConfig(c);
      case "LayerNormalization" -> dev.vecnorm.layers.LayerNormalization.fromConfig(c);
      case "GroupNormalization" -> dev.vecnorm.layers.GroupNormalization.fromConfig(c);
      case "ReLU", "Softmax", "Activation" -> Activation.fromConfig(className, c);
      case "Dropout" -> Dropout.fromConfig(c);
      case "Flatten" -> Flatten.fromConfig(c);
      case "Add" -> dev.vecnorm.layers.Add.fromConfig(c);
      case "Concatenate" -> dev.vecnorm.layers.Concatenate.fromConfig(c);
      case "WeightNormalization", "Addons>WeightNormalization" -> dev.vecnorm.layers.WeightNormalization.fromConfig(c);
      default -> throw new IllegalArgumentException("unknown layer class " + className
          + " (expected Dense, BatchNormalization, LayerNormalization, ReLU, Softmax, Activation, Dropout, Flatten, Add or Concatenate)");
    };
  }

  private static Map<?, ?> map(Object o, String what) {
    if (o instanceof Map<?, ?> m) return m;
    throw new IllegalArgumentException(what + " must be a JSON object, got " + o);
  }

  private static void keys(Map<?, ?> m, String what, String... known) {
    for (Object k : m.keySet()) {
      if (!List.of(known).contains(String.valueOf(k))) {
        throw new IllegalArgumentException(what + " has unknown key '" + k + "' (expected " + String.join(", ", known) + ")");
      }
    }
  }
}
