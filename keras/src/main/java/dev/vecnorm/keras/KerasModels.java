package dev.vecnorm.keras;

import dev.vecnorm.io.Json;
import dev.vecnorm.layers.Dense;
import dev.vecnorm.layers.Layer;
import dev.vecnorm.layers.Parameter;
import dev.vecnorm.layers.Input;
import dev.vecnorm.layers.Merge;
import dev.vecnorm.layers.SymbolicTensor;
import dev.vecnorm.model.Model;
import dev.vecnorm.model.ModelIO;
import dev.vecnorm.model.Sequential;
import io.jhdf.HdfFile;
import io.jhdf.api.Attribute;
import io.jhdf.api.Dataset;
import io.jhdf.api.Group;
import io.jhdf.api.Node;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * Reads the model files Keras writes, with a pure-Java HDF5 reader (jhdf, no native HDF5):
 * <ul>
 *   <li>Keras 3 {@code .keras}: a zip of {@code config.json}, {@code metadata.json} and
 *       {@code model.weights.h5}, whose weights are {@code layers/<layer name>/vars/<i>} in the layer's
 *       {@code get_weights()} order (Dense: kernel, bias; BatchNormalization: gamma, beta, moving_mean,
 *       moving_variance);</li>
 *   <li>legacy {@code .h5} (Keras 2, tf.keras, and Keras 3's {@code save("x.h5")}): the root attribute
 *       {@code model_config} and the group {@code model_weights/<layer name>}, whose attribute
 *       {@code weight_names} lists the layer's datasets in {@code get_weights()} order.</li>
 * </ul>
 * Sequential models (the Keras 3 form, and the Keras 2.1 form whose config is the bare layer list) are
 * read into a {@link Sequential}, Functional ones ({@code Model} / {@code Functional}) into a functional
 * {@link Model} of the same graph (several inputs and outputs, merges), built from InputLayer, Dense,
 * BatchNormalization, Activation (ReLU, Softmax), Dropout, Flatten, Add and Concatenate. The file's
 * content is checked as strictly as {@link ModelIO}'s: every layer config key is honoured or rejected
 * by name, an unsupported layer is named with its type, and every weight's shape is compared with what
 * the config builds before it is set. Optimizer state and training config are not read (inference and
 * further training start from the weights).
 */
public final class KerasModels {
  private KerasModels() {}

  /** Layer types this reader builds (InputLayer only fixes the input shape). */
  static final List<String> SUPPORTED = List.of("InputLayer", "Dense", "BatchNormalization", "Activation", "ReLU", "Softmax",
      "Dropout", "Flatten", "Add", "Concatenate");

  /** Keys Keras puts next to a layer's class_name and config; none of them changes what the layer computes. */
  private static final Set<String> ENTRY_KEYS = Set.of("class_name", "config", "module", "registered_name", "build_config", "name",
      "inbound_nodes", "shared_object_id");

  /** Layer config keys that only declare the model's input shape (Keras 2's first layer). */
  private static final List<String> INPUT_SHAPE_KEYS = List.of("batch_input_shape", "input_shape", "batch_size", "input_dim");

  /**
   * Reads a {@code .keras} or legacy {@code .h5} file (told apart by their magic bytes, not their
   * names). Any problem is an {@code IOException} naming the file and the layer or weight.
   */
  public static Model load(Path file) throws IOException {
    byte[] magic;
    try (InputStream in = Files.newInputStream(file)) {
      magic = in.readNBytes(8);
    }
    try {
      if (magic.length >= 4 && magic[0] == 'P' && magic[1] == 'K' && magic[2] == 3 && magic[3] == 4) return loadKeras(file);
      if (magic.length == 8 && Arrays.equals(magic, HDF5_MAGIC)) return loadH5(file);
    } catch (IllegalArgumentException | IllegalStateException | ClassCastException e) {
      throw new IOException(file + ": " + e.getMessage(), e);
    }
    throw new IOException(file + ": neither a .keras zip nor an HDF5 file (first bytes " + Arrays.toString(magic) + ")");
  }

  static final byte[] HDF5_MAGIC = {(byte) 0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

  private static Model loadKeras(Path file) throws IOException {
    try (ZipFile zip = new ZipFile(file.toFile())) {
      String config = new String(entry(zip, "config.json", 16 << 20), java.nio.charset.StandardCharsets.UTF_8);
      Model model = fromConfig(Json.parse(config));
      byte[] weights = entry(zip, "model.weights.h5", Integer.MAX_VALUE - 8);
      try (HdfFile h5 = HdfFile.fromBytes(weights)) {
        for (Layer l : model.layers()) {
          String path = "layers/" + l.name() + "/vars";
          List<Dataset> datasets = new ArrayList<>();
          Node vars = child(h5, path);
          if (vars == null) {
            if (!l.parameters().isEmpty()) throw new IllegalArgumentException("model.weights.h5 has no group " + path + " for layer '" + l.name() + "'");
          } else {
            Group g = (Group) vars;
            for (int i = 0; i < g.getChildren().size(); i++) {
              if (!(g.getChild(String.valueOf(i)) instanceof Dataset d)) {
                throw new IllegalArgumentException("model.weights.h5: " + path + " has no dataset " + i + " (children " + g.getChildren().keySet() + ")");
              }
              datasets.add(d);
            }
          }
          setWeights(l, datasets, "model.weights.h5 " + path);
        }
      }
      return model;
    }
  }

  private static byte[] entry(ZipFile zip, String name, long limit) throws IOException {
    ZipEntry e = zip.getEntry(name);
    if (e == null) throw new IOException(zip.getName() + ": no " + name + " in the .keras zip");
    if (e.getSize() > limit) throw new IOException(zip.getName() + ": " + name + " has " + e.getSize() + " bytes, more than " + limit);
    try (InputStream in = zip.getInputStream(e)) {
      return in.readAllBytes();
    }
  }

  private static Node child(Group g, String path) {
    Group at = g;
    Node n = null;
    for (String part : path.split("/")) {
      n = at.getChildren().get(part);
      if (n == null) return null;
      if (n instanceof Group next) at = next;
    }
    return n;
  }

  private static Model loadH5(Path file) throws IOException {
    try (HdfFile h5 = new HdfFile(file)) {
      Attribute config = h5.getAttribute("model_config");
      if (config == null) {
        throw new IOException(file + ": no model_config attribute: a weights-only file (save_weights), which needs the model's config");
      }
      Model model = fromConfig(Json.parse(string(config.getData(), "model_config")));
      if (!(h5.getChildren().get("model_weights") instanceof Group weights)) throw new IOException(file + ": no model_weights group");
      for (Layer l : model.layers()) {
        if (!(weights.getChildren().get(l.name()) instanceof Group g)) {
          if (l.parameters().isEmpty()) continue;
          throw new IllegalArgumentException("model_weights has no group for layer '" + l.name() + "'");
        }
        List<Dataset> datasets = new ArrayList<>();
        Attribute names = g.getAttribute("weight_names");
        Object data = names == null ? null : names.getData();
        String[] list = data == null ? new String[0] : data instanceof String[] a ? a : new String[] {string(data, "weight_names")};
        for (String n : list) {
          if (!(child(g, n) instanceof Dataset d)) throw new IllegalArgumentException("model_weights/" + l.name() + " has no dataset " + n);
          datasets.add(d);
        }
        setWeights(l, datasets, "model_weights/" + l.name());
      }
      return model;
    }
  }

  private static String string(Object data, String what) {
    if (data instanceof String s) return s;
    if (data instanceof byte[] b) return new String(b, java.nio.charset.StandardCharsets.UTF_8);
    throw new IllegalArgumentException(what + " is not a string attribute (got " + (data == null ? null : data.getClass().getSimpleName()) + ")");
  }

  /** Checks count and every shape against the built layer before setting anything. */
  private static void setWeights(Layer l, List<Dataset> datasets, String where) {
    List<Parameter> params = l.parameters();
    if (datasets.size() != params.size()) {
      throw new IllegalArgumentException(where + ": layer '" + l.name() + "' (" + l.className() + ") has " + datasets.size()
          + " weights in the file, the config builds " + params.size() + " " + names(params));
    }
    List<float[]> values = new ArrayList<>();
    for (int i = 0; i < params.size(); i++) {
      Dataset d = datasets.get(i);
      int[] expected = kerasShape(l, i);
      if (!Arrays.equals(d.getDimensions(), expected)) {
        throw new IllegalArgumentException(where + ": weight " + i + " (" + params.get(i).name() + ") of layer '" + l.name() + "' has shape "
            + Arrays.toString(d.getDimensions()) + ", the config builds " + Arrays.toString(expected));
      }
      values.add(floats(d.getDataFlat(), where + "/" + d.getName()));
    }
    l.setWeights(values);
  }

  private static List<String> names(List<Parameter> params) {
    List<String> n = new ArrayList<>();
    for (Parameter p : params) n.add(p.name());
    return n;
  }

  /** Keras's shape of weight {@code i}: a Dense kernel is {@code [inputDim, units]}, everything else 1-D. */
  static int[] kerasShape(Layer l, int i) {
    int n = l.parameters().get(i).value().length;
    if (l instanceof Dense d && i == 0) return new int[] {n / d.units(), d.units()};
    return new int[] {n};
  }

  private static float[] floats(Object flat, String what) {
    if (flat instanceof float[] f) return f;
    if (flat instanceof double[] d) {
      float[] f = new float[d.length];
      for (int i = 0; i < d.length; i++) f[i] = (float) d[i];
      return f;
    }
    throw new IllegalArgumentException(what + " is not a float dataset (got " + (flat == null ? null : flat.getClass().getSimpleName()) + ")");
  }

  // ---------------------------------------------------------------- writing

  /** The Keras version whose {@code .keras} layout {@link #save} writes (and checks against in its tests). */
  public static final String KERAS_FORMAT_VERSION = "3.11.3";

  /**
   * Writes a {@code .keras} file Keras 3 loads with {@code keras.models.load_model}: {@code config.json}
   * (Keras 3's Sequential config, with an InputLayer and each layer's {@link Layer#kerasConfig()}),
   * {@code metadata.json}, and {@code model.weights.h5} with {@code layers/<name>/vars/<i>} (a Dense
   * kernel as {@code [inputDim, units]}). Not the empty {@code vars} groups Keras writes for weightless
   * layers and for the model itself, which jhdf 0.9.4 cannot write beside the others (see writeWeights)
   * and which Keras reads, when absent, as no variables. No optimizer state: the model loads uncompiled.
   * A layer with a vecnorm-only feature (a fused ReLU in BatchNormalization) throws before anything is written.
   */
  public static void save(Model model, Path file) throws IOException {
    int[] in = model.inputShape();
    if (in == null) throw new IllegalStateException("build or fit the model before saving it");
    Map<String, Object> config = model instanceof Sequential seq ? kerasConfig(seq) : functionalConfig(model);
    Path weights = Files.createTempFile(file.toAbsolutePath().getParent(), "model.weights", ".h5.tmp");
    Path tmp = Files.createTempFile(file.toAbsolutePath().getParent(), file.getFileName().toString(), ".tmp");
    try {
      writeWeights(model, weights);
      try (java.util.zip.ZipOutputStream zip = new java.util.zip.ZipOutputStream(Files.newOutputStream(tmp))) {
        put(zip, "metadata.json", Json.write(metadata()).getBytes(java.nio.charset.StandardCharsets.UTF_8));
        put(zip, "config.json", Json.write(config).getBytes(java.nio.charset.StandardCharsets.UTF_8));
        put(zip, "model.weights.h5", Files.readAllBytes(weights));
      }
      Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    } finally {
      Files.deleteIfExists(weights);
      Files.deleteIfExists(tmp);
    }
  }

  private static void put(java.util.zip.ZipOutputStream zip, String name, byte[] data) throws IOException {
    zip.putNextEntry(new ZipEntry(name));
    zip.write(data);
    zip.closeEntry();
  }

  private static Map<String, Object> metadata() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("keras_version", KERAS_FORMAT_VERSION);
    m.put("date_saved", java.time.LocalDateTime.now(java.time.ZoneOffset.UTC)
        .format(java.time.format.DateTimeFormatter.ofPattern("yyyy-MM-dd@HH:mm:ss")));
    return m;
  }

  /** Keras 3's {@code model.get_config()} layout for a Sequential (see the real file's config.json). */
  static Map<String, Object> kerasConfig(Sequential model) {
    int[] in = model.inputShape();
    List<Object> layers = new ArrayList<>();
    Map<String, Object> input = new LinkedHashMap<>();
    input.put("batch_shape", batchShape(in));
    input.put("dtype", "float32");
    input.put("sparse", false);
    input.put("name", "input_layer");
    layers.add(entry("InputLayer", input, null));
    int[] shape = in.clone();
    for (Layer l : model.layers()) {
      // Keras records build_config only for layers that build weights (not Dropout, Flatten, Activation).
      layers.add(entry(l.className(), l.kerasConfig(), l.parameters().isEmpty() ? null : shape));
      shape = l.computeOutputShape(shape);
    }
    Map<String, Object> c = new LinkedHashMap<>();
    c.put("name", "sequential");
    c.put("trainable", true);
    c.put("dtype", "float32");
    c.put("layers", layers);
    Map<String, Object> root = new LinkedHashMap<>();
    root.put("module", "keras");
    root.put("class_name", "Sequential");
    root.put("config", c);
    root.put("registered_name", null);
    root.put("build_config", Map.of("input_shape", batchShape(in)));
    return root;
  }

  /**
   * Keras 3's Functional config: every layer with its {@code inbound_nodes} as Keras 3 writes them
   * ({@code {"args": [tensor or [tensors]], "kwargs": {}}}, each tensor a {@code __keras_tensor__} with its
   * {@code keras_history}), and {@code input_layers} / {@code output_layers}.
   */
  static Map<String, Object> functionalConfig(Model model) {
    Map<SymbolicTensor, String> names = new java.util.IdentityHashMap<>();
    List<Object> layers = new ArrayList<>();
    List<Object> inputLayers = new ArrayList<>(), outputLayers = new ArrayList<>();
    for (int i = 0; i < model.inputs().size(); i++) {
      SymbolicTensor in = model.inputs().get(i);
      String name = model.inputs().size() == 1 ? "input_layer" : "input_layer_" + i;
      names.put(in, name);
      Map<String, Object> c = new LinkedHashMap<>();
      c.put("batch_shape", batchShape(withBatch(in.shape())));
      c.put("dtype", "float32");
      c.put("sparse", false);
      c.put("name", name);
      Map<String, Object> e = entry("InputLayer", c, null);
      e.put("name", name);
      e.put("inbound_nodes", List.of());
      layers.add(e);
      inputLayers.add(List.of(name, 0.0, 0.0));
    }
    for (Layer l : model.layers()) {
      SymbolicTensor node = null;
      for (SymbolicTensor t : nodesOf(model)) if (t.layer() == l) node = t;
      names.put(node, l.name());
      List<Object> args = new ArrayList<>();
      for (SymbolicTensor in : node.inputs()) {
        Map<String, Object> tc = new LinkedHashMap<>();
        tc.put("shape", batchShape(withBatch(in.shape())));
        tc.put("dtype", "float32");
        tc.put("keras_history", List.of(names.get(in), 0.0, 0.0));
        Map<String, Object> t = new LinkedHashMap<>();
        t.put("class_name", "__keras_tensor__");
        t.put("config", tc);
        args.add(t);
      }
      Map<String, Object> call = new LinkedHashMap<>();
      call.put("args", l instanceof Merge ? List.of(args) : args);
      call.put("kwargs", Map.of());
      Map<String, Object> e = entry(l.className(), l.kerasConfig(),
          l.parameters().isEmpty() ? null : withBatch(node.inputs().get(0).shape()));
      e.put("name", l.name());
      e.put("inbound_nodes", List.of(call));
      layers.add(e);
    }
    for (SymbolicTensor o : model.outputs()) outputLayers.add(List.of(names.get(o), 0.0, 0.0));
    Map<String, Object> c = new LinkedHashMap<>();
    c.put("name", "functional");
    c.put("trainable", true);
    c.put("layers", layers);
    c.put("input_layers", inputLayers);
    c.put("output_layers", outputLayers);
    Map<String, Object> root = new LinkedHashMap<>();
    root.put("module", "keras.src.models.functional");
    root.put("class_name", "Functional");
    root.put("config", c);
    root.put("registered_name", "Functional");
    return root;
  }

  /** Every computed tensor of a functional model, found from its outputs. */
  private static List<SymbolicTensor> nodesOf(Model model) {
    List<SymbolicTensor> out = new ArrayList<>();
    java.util.Deque<SymbolicTensor> todo = new java.util.ArrayDeque<>(model.outputs());
    Set<SymbolicTensor> seen = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
    while (!todo.isEmpty()) {
      SymbolicTensor t = todo.pop();
      if (t.layer() == null || !seen.add(t)) continue;
      out.add(t);
      todo.addAll(t.inputs());
    }
    return out;
  }

  private static int[] withBatch(int[] sample) {
    int[] s = new int[sample.length + 1];
    s[0] = 1;
    System.arraycopy(sample, 0, s, 1, sample.length);
    return s;
  }

  private static Map<String, Object> entry(String cls, Map<String, Object> config, int[] inputShape) {
    Map<String, Object> e = new LinkedHashMap<>();
    e.put("module", "keras.layers");
    e.put("class_name", cls);
    e.put("config", config);
    e.put("registered_name", null);
    if (inputShape != null) e.put("build_config", Map.of("input_shape", batchShape(inputShape)));
    return e;
  }

  private static List<Object> batchShape(int[] s) {
    List<Object> l = new ArrayList<>();
    l.add(null);
    for (int i = 1; i < s.length; i++) l.add((double) s[i]);
    return l;
  }

  private static void writeWeights(Model model, Path file) throws IOException {
    try (io.jhdf.WritableHdfFile h5 = HdfFile.write(file)) {
      io.jhdf.api.WritableGroup layers = h5.putGroup("layers");
      for (Layer l : model.layers()) {
        if (l.parameters().isEmpty()) continue; // see below: jhdf 0.9.4 cannot write the empty group
        io.jhdf.api.WritableGroup vars = layers.putGroup(l.name()).putGroup("vars");
        vars.putAttribute("name", l.name());
        List<Parameter> params = l.parameters();
        for (int i = 0; i < params.size(); i++) {
          float[] w = params.get(i).value();
          int[] shape = kerasShape(l, i);
          Object data = w;
          if (shape.length == 2) {
            float[][] rows = new float[shape[0]][];
            for (int r = 0; r < shape[0]; r++) rows[r] = Arrays.copyOfRange(w, r * shape[1], (r + 1) * shape[1]);
            data = rows;
          }
          vars.putDataset(String.valueOf(i), data);
        }
      }
      // Keras 3 also writes empty "vars" groups: layers/<name>/vars for weightless layers (Dropout,
      // Flatten, Activation) and the root "vars" (the Sequential's own variables: none). jhdf 0.9.4
      // cannot write them: sibling groups of which some hold a dataset somewhere below and some hold
      // none give a file that neither jhdf ("Object header v2 signature not matched") nor HDF5's own
      // h5dump ("internal error") reads. Keras reads a missing group as no variables (saving_lib's
      // H5Entry falls back to an empty store, and a layer without variables expects none), so they are
      // left out.
    }
  }

  // ---------------------------------------------------------------- config

  /** A model from a Keras model config: a Sequential, or a functional Model of the same graph. */
  static Model fromConfig(Object parsed) {
    Map<?, ?> root = map(parsed, "the model config");
    keys(root, "the model config", Set.of("class_name", "config", "module", "registered_name", "build_config", "compile_config",
        "keras_version", "backend"));
    String cls = String.valueOf(root.get("class_name"));
    switch (cls) {
      case "Sequential" -> {
        if (root.get("config") instanceof List<?> l) return sequential(l); // Keras <= 2.1: the config is the bare layer list
        Map<?, ?> c = map(root.get("config"), "config");
        keys(c, "the Sequential config", Set.of("name", "layers", "trainable", "dtype", "build_input_shape"));
        return sequential(list(c.get("layers"), "config.layers"));
      }
      case "Model", "Functional" -> {
        Map<?, ?> c = map(root.get("config"), "config");
        keys(c, "the Functional config", Set.of("name", "layers", "input_layers", "output_layers", "trainable", "dtype"));
        return functional(c);
      }
      default -> throw new IllegalArgumentException("model class_name " + cls + " is not supported (Sequential, Model or Functional)");
    }
  }

  /** One layer entry, checked: its type, name, config (input-shape keys removed) and, for InputLayer, the shape. */
  private record Entry(String type, String name, Map<String, Object> config, Map<?, ?> raw, int[] declaredShape) {
    String what() {
      return "layer '" + name + "' (" + type + ")";
    }

    Layer build() {
      try {
        return ModelIO.layerFromConfig(type, config);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(what() + ": " + e.getMessage(), e);
      }
    }
  }

  private static Entry entry(Object o, int i) {
    Map<?, ?> e = map(o, "layers[" + i + "]");
    String type = String.valueOf(e.get("class_name"));
    Map<?, ?> raw = map(e.get("config"), "layers[" + i + "].config");
    String name = String.valueOf(raw.get("name"));
    String what = "layer '" + name + "' (" + type + ")";
    if (!SUPPORTED.contains(type)) {
      throw new IllegalArgumentException(what + ": vecnorm does not implement layer type " + type + " (supported: "
          + String.join(", ", SUPPORTED) + ")");
    }
    try {
      keys(e, "the entry", ENTRY_KEYS);
      Map<String, Object> config = new LinkedHashMap<>();
      raw.forEach((k, v) -> config.put(String.valueOf(k), v));
      if (type.equals("InputLayer")) return new Entry(type, name, config, e, inputLayerShape(config));
      int[] declared = declaredShape(config);
      for (String k : INPUT_SHAPE_KEYS) config.remove(k);
      return new Entry(type, name, config, e, declared);
    } catch (IllegalArgumentException ex) {
      throw new IllegalArgumentException(what + ": " + ex.getMessage(), ex);
    }
  }

  private static Sequential sequential(List<?> entries) {
    Sequential model = new Sequential();
    int[] inputShape = null;
    for (int i = 0; i < entries.size(); i++) {
      Entry e = entry(entries.get(i), i);
      if (e.type().equals("InputLayer")) {
        if (i != 0) throw new IllegalArgumentException(e.what() + ": an InputLayer must come first");
        inputShape = e.declaredShape();
        continue;
      }
      if (e.declaredShape() != null && inputShape == null && model.layers().isEmpty()) inputShape = e.declaredShape();
      model.add(e.build());
    }
    if (inputShape == null) throw new IllegalArgumentException("the config declares no input shape (no InputLayer, no batch_input_shape)");
    model.build(inputShape);
    return model;
  }

  /** The graph of a Functional config: each layer applied to the tensors its inbound_nodes name. */
  private static Model functional(Map<?, ?> c) {
    List<?> entries = list(c.get("layers"), "config.layers");
    Map<String, SymbolicTensor> tensors = new LinkedHashMap<>();
    for (int i = 0; i < entries.size(); i++) {
      Entry e = entry(entries.get(i), i);
      if (tensors.containsKey(e.name())) throw new IllegalArgumentException(e.what() + ": a second layer of this name (shared layers are not supported)");
      if (e.type().equals("InputLayer")) {
        int[] s = e.declaredShape();
        tensors.put(e.name(), Input.shape(Arrays.copyOfRange(s, 1, s.length)));
        continue;
      }
      List<String> inbound;
      try {
        inbound = inboundNames(e.raw().get("inbound_nodes"));
      } catch (IllegalArgumentException ex) {
        throw new IllegalArgumentException(e.what() + ": " + ex.getMessage(), ex);
      }
      List<SymbolicTensor> in = new ArrayList<>();
      for (String n : inbound) {
        SymbolicTensor t = tensors.get(n);
        if (t == null) throw new IllegalArgumentException(e.what() + ": takes its input from '" + n + "', which no earlier layer defines");
        in.add(t);
      }
      Layer layer = e.build();
      try {
        if (layer instanceof Merge m) {
          tensors.put(e.name(), m.apply(in.toArray(SymbolicTensor[]::new)));
        } else {
          if (in.size() != 1) throw new IllegalArgumentException("takes " + in.size() + " inputs " + inbound + ", expected 1");
          tensors.put(e.name(), layer.apply(in.get(0)));
        }
      } catch (IllegalArgumentException ex) {
        throw new IllegalArgumentException(e.what() + ": " + ex.getMessage(), ex);
      }
    }
    return new Model(endpoints(c.get("input_layers"), tensors, "input_layers"), endpoints(c.get("output_layers"), tensors, "output_layers"));
  }

  /** {@code [["name", 0, 0], ...]} (or one such triple, as Keras 3 writes a single output) to tensors. */
  private static List<SymbolicTensor> endpoints(Object o, Map<String, SymbolicTensor> tensors, String what) {
    List<?> l = list(o, what);
    List<?> triples = !l.isEmpty() && l.get(0) instanceof String ? List.of(l) : l;
    List<SymbolicTensor> out = new ArrayList<>();
    for (Object t : triples) {
      String name = String.valueOf(list(t, what + " entry").get(0));
      SymbolicTensor s = tensors.get(name);
      if (s == null) throw new IllegalArgumentException(what + " names '" + name + "', which is not a layer of the config");
      out.add(s);
    }
    return out;
  }

  private static int[] inputLayerShape(Map<String, Object> c) {
    keysOf(c, "InputLayer", Set.of("batch_shape", "batch_input_shape", "dtype", "sparse", "ragged", "name", "optional", "input_tensor"));
    for (String k : List.of("sparse", "ragged", "optional")) {
      if (Boolean.TRUE.equals(c.get(k))) throw new IllegalArgumentException("InputLayer " + k + "=true is not supported");
    }
    if (c.get("input_tensor") != null) throw new IllegalArgumentException("InputLayer input_tensor is not supported");
    if (c.get("dtype") != null && !"float32".equals(c.get("dtype"))) throw new IllegalArgumentException("InputLayer dtype must be float32, got " + c.get("dtype"));
    Object shape = c.get("batch_shape") != null ? c.get("batch_shape") : c.get("batch_input_shape");
    return shape(shape, "batch_shape");
  }

  /** The input shape a Keras 2 first layer declares ({@code batch_input_shape} or {@code input_shape}), or null. */
  private static int[] declaredShape(Map<String, Object> c) {
    if (c.get("batch_input_shape") != null) return shape(c.get("batch_input_shape"), "batch_input_shape");
    if (c.get("input_shape") != null) {
      List<Object> s = new ArrayList<>();
      s.add(null);
      s.addAll(list(c.get("input_shape"), "input_shape"));
      return shape(s, "input_shape");
    }
    if (c.get("input_dim") instanceof Double d) return shape(Arrays.asList(null, d), "input_dim");
    return null;
  }

  /** {@code [null, d1, ...]} to {@code {1, d1, ...}}: a one-row batch to build with. */
  private static int[] shape(Object o, String what) {
    List<?> l = list(o, what);
    if (l.size() < 2) throw new IllegalArgumentException(what + " must be [batch, d1, ...], got " + o);
    int[] s = new int[l.size()];
    s[0] = 1;
    for (int i = 1; i < s.length; i++) {
      if (!(l.get(i) instanceof Double d) || d != Math.rint(d) || d < 1 || d > Integer.MAX_VALUE) {
        throw new IllegalArgumentException(what + "[" + i + "] must be an integer >= 1 (variable sizes are not supported), got " + o);
      }
      s[i] = d.intValue();
    }
    return s;
  }

  /**
   * Names of the layers feeding this one. Keras 2: {@code [[["name", node, tensor, {}], ...]]}; Keras 3:
   * {@code [{"args": [{"class_name": "__keras_tensor__", "config": {"keras_history": ["name", node, tensor]}}], "kwargs": {}}]}.
   */
  static List<String> inboundNames(Object nodes) {
    List<String> out = new ArrayList<>();
    if (nodes == null) return out;
    for (Object node : list(nodes, "inbound_nodes")) {
      if (node instanceof List<?> calls) {
        for (Object call : calls) out.add(String.valueOf(list(call, "an inbound node").get(0)));
      } else {
        collectHistory(map(node, "an inbound node"), out);
      }
    }
    return out;
  }

  private static void collectHistory(Object o, List<String> out) {
    if (o instanceof Map<?, ?> m) {
      if (m.get("keras_history") instanceof List<?> h) {
        out.add(String.valueOf(h.get(0)));
        return;
      }
      for (Object v : m.values()) collectHistory(v, out);
    } else if (o instanceof List<?> l) {
      for (Object v : l) collectHistory(v, out);
    }
  }

  static Map<?, ?> map(Object o, String what) {
    if (o instanceof Map<?, ?> m) return m;
    throw new IllegalArgumentException(what + " must be a JSON object, got " + o);
  }

  static List<?> list(Object o, String what) {
    if (o instanceof List<?> l) return l;
    throw new IllegalArgumentException(what + " must be a JSON array, got " + o);
  }

  private static void keys(Map<?, ?> m, String what, Set<String> known) {
    for (Object k : m.keySet()) {
      if (!known.contains(String.valueOf(k))) throw new IllegalArgumentException(what + " has unknown key '" + k + "' (known: " + known + ")");
    }
  }

  private static void keysOf(Map<String, Object> m, String what, Set<String> known) {
    keys(m, what, known);
  }
}
