package dev.vecnorm.model;

import dev.vecnorm.io.Json;
import dev.vecnorm.layers.Activation;
import dev.vecnorm.layers.BatchNormalization;
import dev.vecnorm.layers.Dense;
import dev.vecnorm.layers.Dropout;
import dev.vecnorm.layers.Flatten;
import dev.vecnorm.layers.Layer;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Saves a {@link Sequential} as a directory of two files:
 * <ul>
 *   <li>{@code config.json}: {@code {"class_name": "Sequential", "config": {"name", "layers": [{"class_name",
 *       "config"}...], "build_input_shape": [null, ...]}}} with Keras's layer key names;</li>
 *   <li>{@code weights.bin}: the ASCII magic {@code VECNORM1}, then big-endian int32 layer count; per layer
 *       an int32 weight count; per weight an int32 element count followed by that many float32 values,
 *       little-endian, in Keras's {@code get_weights()} order.</li>
 * </ul>
 * Loading rebuilds the layers from the config and sets the weights, so predictions are bit-identical.
 */
public final class ModelIO {
  private static final byte[] MAGIC = "VECNORM1".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

  private ModelIO() {}

  public static void save(Sequential model, Path dir) throws IOException {
    if (model.inputShape() == null) throw new IllegalStateException("build or fit the model before saving it");
    Files.createDirectories(dir);
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
    Files.writeString(dir.resolve("config.json"), Json.write(root) + "\n");
    try (DataOutputStream out = new DataOutputStream(new java.io.BufferedOutputStream(Files.newOutputStream(dir.resolve("weights.bin"))))) {
      out.write(MAGIC);
      out.writeInt(model.layers().size());
      for (Layer l : model.layers()) {
        List<float[]> weights = l.getWeights();
        out.writeInt(weights.size());
        for (float[] w : weights) {
          out.writeInt(w.length);
          ByteBuffer buf = ByteBuffer.allocate(w.length * 4).order(ByteOrder.LITTLE_ENDIAN);
          buf.asFloatBuffer().put(w);
          out.write(buf.array());
        }
      }
    }
  }

  public static Sequential load(Path dir) throws IOException {
    Object parsed = Json.parse(Files.readString(dir.resolve("config.json")));
    Map<?, ?> root = asMap(parsed, "config.json");
    if (!"Sequential".equals(root.get("class_name"))) throw new IOException("config.json: class_name must be Sequential");
    Map<?, ?> config = asMap(root.get("config"), "config");
    Sequential model = new Sequential();
    for (Object o : (List<?>) config.get("layers")) {
      Map<?, ?> entry = asMap(o, "layer");
      @SuppressWarnings("unchecked")
      Map<String, Object> c = (Map<String, Object>) asMap(entry.get("config"), "layer config");
      model.add(layerFromConfig(String.valueOf(entry.get("class_name")), c));
    }
    List<?> shape = (List<?>) config.get("build_input_shape");
    int[] s = new int[shape.size()];
    s[0] = 1;
    for (int i = 1; i < s.length; i++) s[i] = ((Number) shape.get(i)).intValue();
    model.build(s);
    try (DataInputStream in = new DataInputStream(new java.io.BufferedInputStream(Files.newInputStream(dir.resolve("weights.bin"))))) {
      byte[] magic = in.readNBytes(MAGIC.length);
      if (!java.util.Arrays.equals(magic, MAGIC)) throw new IOException("weights.bin: not a vecnorm weights file");
      int layers = in.readInt();
      if (layers != model.layers().size()) throw new IOException("weights.bin has " + layers + " layers, config has " + model.layers().size());
      for (Layer l : model.layers()) {
        int count = in.readInt();
        List<float[]> weights = new ArrayList<>();
        for (int i = 0; i < count; i++) {
          int n = in.readInt();
          ByteBuffer buf = ByteBuffer.wrap(in.readNBytes(n * 4)).order(ByteOrder.LITTLE_ENDIAN);
          float[] w = new float[n];
          buf.asFloatBuffer().get(w);
          weights.add(w);
        }
        l.setWeights(weights);
      }
    }
    return model;
  }

  static Layer layerFromConfig(String className, Map<String, Object> c) {
    Layer layer = switch (className) {
      case "Dense" -> Dense.fromConfig(c);
      case "BatchNormalization" -> BatchNormalization.fromConfig(c);
      case "ReLU" -> new Activation(Activation.Kind.RELU, String.valueOf(c.get("name")));
      case "Softmax" -> new Activation(Activation.Kind.SOFTMAX, String.valueOf(c.get("name")));
      case "Activation" -> new Activation(Activation.Kind.valueOf(String.valueOf(c.get("activation")).toUpperCase(java.util.Locale.ROOT)),
          String.valueOf(c.get("name")));
      case "Dropout" -> new Dropout(((Number) c.get("rate")).doubleValue(), ((Number) c.get("seed")).longValue());
      case "Flatten" -> new Flatten();
      default -> throw new IllegalArgumentException("unknown layer class " + className);
    };
    if (c.get("trainable") instanceof Boolean t) layer.setTrainable(t);
    return layer;
  }

  private static Map<?, ?> asMap(Object o, String what) throws IOException {
    if (o instanceof Map<?, ?> m) return m;
    throw new IOException(what + " must be a JSON object");
  }
}
