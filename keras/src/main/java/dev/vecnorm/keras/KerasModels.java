package dev.vecnorm.keras;

import dev.vecnorm.io.Json;
import dev.vecnorm.layers.Dense;
import dev.vecnorm.layers.Layer;
import dev.vecnorm.layers.Parameter;
import dev.vecnorm.model.KerasConfig;
import dev.vecnorm.model.Model;
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
 * The config part is {@link KerasConfig}'s (in the library, no dependency): Sequential models into a
 * {@link Sequential}, Functional ones into a functional {@link Model} of the same graph. The file's
 * content is checked as strictly as {@code ModelIO}'s: every layer config key is honoured or rejected
 * by name, an unsupported layer is named with its type, and every weight's shape is compared with what
 * the config builds before it is set. Optimizer state and training config are not read (inference and
 * further training start from the weights).
 */
public final class KerasModels {
  private KerasModels() {}

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
      Model model = KerasConfig.fromConfig(Json.parse(config));
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
      Model model = KerasConfig.fromConfig(Json.parse(string(config.getData(), "model_config")));
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
    Map<String, Object> config = KerasConfig.toConfig(model);
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

}
