// The .nnet reader and writer: a hand-written file with normalisation checked
// against hand-computed outputs, exact round trips, and every kind of bad file.
#include <fmt/core.h>
#include <gtest/gtest.h>

#include <cfloat>
#include <fstream>
#include <sstream>

#include "leo/domain/box_file.hpp"
#include "leo/io/nnet.hpp"
#include "leo/io/onnx.hpp"
#include "leo/util/error.hpp"
#include "support.hpp"

using namespace leo;
namespace fs = std::filesystem;

namespace {

// 2 inputs -> 2 ReLU units -> 1 output, with input means (0.5, 2), input
// ranges (2, 4), output mean 3, output range 10:
//   xn = ((x0 - 0.5) / 2, (x1 - 2) / 4)
//   h  = relu([xn0 - xn1, 0.5 xn0 + 0.25 xn1 - 1])
//   y  = 10 (h0 + h1 + 0.5) + 3
const char* kSmall =
    "// A tiny hand-written network\n"
    "// with normalisation\n"
    "2,2,1,2,\n"
    "2,2,1,\n"
    "0,\n"
    "-1,-10,\n"
    "3,10,\n"
    "0.5,2,3,\n"
    "2,4,10,\n"
    "1,-1,\n"
    "0.5,0.25,\n"
    "0,\n"
    "-1,\n"
    "1,1,\n"
    "0.5,\n";

void expect_identical(const Network& a, const Network& b) {
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (std::size_t l = 0; l < a.layers.size(); ++l) {
    ASSERT_EQ(a.layers[l].weights.rows(), b.layers[l].weights.rows());
    ASSERT_EQ(a.layers[l].weights.cols(), b.layers[l].weights.cols());
    // Bitwise, so that -0.0 and 0.0 differ.
    for (Eigen::Index i = 0; i < a.layers[l].weights.size(); ++i)
      ASSERT_EQ(std::bit_cast<std::uint64_t>(a.layers[l].weights.data()[i]),
                std::bit_cast<std::uint64_t>(b.layers[l].weights.data()[i]))
          << "layer " << l << " weight " << i;
    for (Eigen::Index i = 0; i < a.layers[l].bias.size(); ++i)
      ASSERT_EQ(std::bit_cast<std::uint64_t>(a.layers[l].bias[i]), std::bit_cast<std::uint64_t>(b.layers[l].bias[i]))
          << "layer " << l << " bias " << i;
  }
}

std::string to_text(const Network& net, ElementType type = ElementType::float64) {
  std::ostringstream out;
  write_nnet(net, out, type);
  return out.str();
}

std::string error_of(const std::string& text) {
  try {
    parse_nnet(text, "bad.nnet");
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(Nnet, HandWrittenWithNormalisation) {
  Network net = parse_nnet(kSmall, "small.nnet");
  ASSERT_EQ(net.depth(), 2u);
  EXPECT_EQ(net.inputs(), 2);
  EXPECT_EQ(net.outputs(), 1);
  EXPECT_EQ(net.parameters(), 6 + 3);
  EXPECT_EQ(net.source_parameters, 9);
  EXPECT_EQ(net.producer, "nnet");
  // x = (1.5, 6): xn = (0.5, 1), h = relu(-0.5, -0.5) = 0, y = 10 * 0.5 + 3 = 8
  // x = (2.5, 2): xn = (1, 0),   h = (1, 0),  y = 10 * 1.5 + 3 = 18
  // x = (0.5, -6): xn = (0, -2), h = (2, 0),  y = 10 * 2.5 + 3 = 28
  Eigen::MatrixXd X{{1.5, 2.5, 0.5}, {6, 2, -6}};
  Eigen::MatrixXd Y = net.evaluate(X);
  EXPECT_NEAR(Y(0, 0), 8, 1e-12);
  EXPECT_NEAR(Y(0, 1), 18, 1e-12);
  EXPECT_NEAR(Y(0, 2), 28, 1e-12);
  // The folded first layer: W / range, b - (W / range) mean.
  EXPECT_DOUBLE_EQ(net.layers[0].weights(0, 0), 0.5);
  EXPECT_DOUBLE_EQ(net.layers[0].weights(0, 1), -0.25);
  EXPECT_DOUBLE_EQ(net.layers[0].bias[0], -0.25 + 0.5);
  EXPECT_DOUBLE_EQ(net.layers[1].weights(0, 0), 10);
  EXPECT_DOUBLE_EQ(net.layers[1].bias[0], 8);

  EXPECT_EQ(net.metadata.at(kNnetInputMin), "-1,-10");
  EXPECT_EQ(net.metadata.at(kNnetInputMax), "3,10");
  auto box = nnet_input_box(net);
  ASSERT_TRUE(box);
  EXPECT_EQ(box->lower, (Eigen::VectorXd{{-1, -10}}));
  EXPECT_EQ(box->upper, (Eigen::VectorXd{{3, 10}}));
  EXPECT_EQ(net.input.shape, (std::vector<std::int64_t>{-1, 2}));
  EXPECT_EQ(net.input.type, ElementType::float64);
}

TEST(Nnet, RoundTripIsExact) {
  Network a = parse_nnet(kSmall, "small.nnet");
  std::string text = to_text(a);
  Network b = parse_nnet(text, "written.nnet");
  expect_identical(a, b);
  EXPECT_EQ(a.metadata, b.metadata);
  EXPECT_EQ(b.input.name, a.input.name);
  EXPECT_EQ(b.input.shape, a.input.shape);
  // Writing the re-read network gives the same text.
  EXPECT_EQ(to_text(b), text);
  // What leo writes has no normalisation.
  EXPECT_NE(text.find("\n0,0,0,\n1,1,1,\n"), std::string::npos) << text;
}

TEST(Nnet, RandomNetworksRoundTripBitExact) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 5; ++trial) {
    Network net = test::random_network({3 + trial, 7, 5, 2 + trial}, rng, 1.0);
    net.layers[0].bias[0] = -0.0;
    net.layers[1].weights(0, 0) = 1e-300;
    net.layers[1].weights(1, 0) = -DBL_MAX;
    net.layers[1].weights(2, 0) = 4.9406564584124654e-324;  // denormal
    net.input = {"x.in", {-1, 1, 3 + trial}, ElementType::float32, {}};
    net.output = {"logits", {-1, 2 + trial}, ElementType::float32, {}};
    Network back = parse_nnet(to_text(net), "random.nnet");
    expect_identical(net, back);
    EXPECT_EQ(back.input.name, "x.in");
    EXPECT_EQ(back.input.shape, net.input.shape);
    EXPECT_EQ(back.input.type, ElementType::float64);  // written as float64
    EXPECT_EQ(back.output.name, "logits");
    EXPECT_TRUE(back.metadata.empty());  // no bounds known -> none stored
    EXPECT_FALSE(nnet_input_box(back));
  }
}

TEST(Nnet, Float32WritingRoundsEveryValue) {
  std::mt19937_64 rng(11);
  Network net = test::random_network({4, 6, 3}, rng);
  Network back = parse_nnet(to_text(net, ElementType::float32), "f32.nnet");
  EXPECT_EQ(back.input.type, ElementType::float32);
  for (std::size_t l = 0; l < net.depth(); ++l) {
    Eigen::MatrixXd rounded = net.layers[l].weights.cast<float>().cast<double>();
    EXPECT_EQ(back.layers[l].weights, rounded);
    EXPECT_EQ(back.layers[l].bias, net.layers[l].bias.cast<float>().cast<double>());
  }
}

TEST(Nnet, NoNormalisationKeepsWeightsUntouched) {
  const char* text =
      "3,1,1,2,\n1,2,2,1,\n0,\n-1,\n1,\n0,0,\n1,1,\n"
      "0.1,\n-0.3,\n-0,\n0.7,\n"
      "0.1,0.2,\n0.3,0.4,\n0.5,\n0.6,\n"
      "-1,2,\n0.125,\n";
  Network net = parse_nnet(text, "plain.nnet");
  EXPECT_EQ(net.layers[0].weights(1, 0), -0.3);
  EXPECT_TRUE(std::signbit(net.layers[0].bias[0]));
  EXPECT_EQ(net.layers[1].weights(0, 1), 0.2);
  EXPECT_EQ(net.layers[2].bias[0], 0.125);
  EXPECT_EQ(net.hidden_layers(), 2u);
  EXPECT_EQ(net.widths(), (std::vector<Eigen::Index>{2, 2}));
}

TEST(Nnet, FilesAndWindowsLineEnds) {
  fs::path dir = test::temp_dir("nnet");
  std::string crlf;
  for (char c : std::string(kSmall)) {
    if (c == '\n') crlf += '\r';
    crlf += c;
  }
  {
    std::ofstream(dir / "crlf.nnet") << crlf;
  }
  Network a = read_nnet(dir / "crlf.nnet");
  Network b = parse_nnet(kSmall, "small.nnet");
  expect_identical(a, b);
  write_nnet(a, dir / "out.nnet");
  expect_identical(read_nnet(dir / "out.nnet"), a);
  // Never over the input.
  EXPECT_THROW(write_nnet(a, dir / "crlf.nnet", {ElementType::float64, {dir / "crlf.nnet"}}), InputError);
  EXPECT_THROW(read_nnet(dir / "missing.nnet"), InputError);
  EXPECT_THROW(read_nnet(dir), InputError);
  fs::remove_all(dir);
}

TEST(Nnet, BadFilesNameTheLine) {
  struct Case {
    std::string text;
    std::string expected;
  };
  const std::string head = "1,2,1,2,\n2,1,\n0,\n0,0,\n1,1,\n0,0,0,\n1,1,1,\n";
  std::vector<Case> cases = {
      {"", "ends"},
      {"// only comments\n", "ends"},
      {"not a header\n", "line 1"},
      {"1,2,1,\n", "line 1: expected 4"},
      {"0,2,1,2,\n2,1,\n", "numLayers must be at least 1"},
      {"1,2,1,2,\n3,1,\n0,\n", "line 2: the first layer size 3 differs from inputSize 2"},
      {"1,2,1,2,\n2,0,\n0,\n", "line 2: layer size 1 is 0"},
      {"1,2,1,2,\n2,1,\n", "ends"},
      {"1,100000,1,100000,\n100000,1,\n0,\n", "more than the file holds"},
      {"1,2,1,2,\n2,1,\n0,\n0,0,\n1,\n", "line 5: expected 2 input maximums, found 1"},
      {"1,2,1,2,\n2,1,\n0,\n0,0,\n-1,1,\n", "line 5: input 1: maximum -1 is below minimum 0"},
      {"1,2,1,2,\n2,1,\n0,\n0,0,\n1,1,\n0,0,0,\n1,0,1,\n", "line 7: range 2 is 0"},
      {"1,2,1,2,\n2,1,\n0,\n0,0,\n1,1,\n0,nan,0,\n1,1,1,\n", "line 6: mean 2 is not finite"},
      {head + "1,\n0.5,\n", "line 8: expected 2 weights of layer 1 unit 1, found 1"},
      {head + "1,nan,\n0.5,\n", "line 8: weight 2 of layer 1 unit 1 is nan"},
      {head + "1,inf,\n0.5,\n", "line 8: weight 2 of layer 1 unit 1 is inf"},
      {head + "1,x,\n0.5,\n", "line 8: value 2 of the weights of layer 1 unit 1 is not a number: 'x'"},
      {head + "1,2,\n", "ends (line 8) before bias of layer 1 unit 1"},
      {head + "1,2,\n-inf,\n", "line 9: bias of layer 1 unit 1 is -inf"},
      {head + "1,2,\n3,\n4,\n", "line 10: unexpected data after the last layer"},
      {head + "1,1e999,\n3,\n", "line 8: value 2 of the weights of layer 1 unit 1 is not a number"},
  };
  for (const auto& c : cases) {
    std::string message = error_of(c.text);
    EXPECT_NE(message.find(c.expected), std::string::npos) << "text:\n" << c.text << "\nmessage: " << message;
    EXPECT_EQ(message.rfind("bad.nnet: ", 0), 0u) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
  // The valid file these cases break.
  EXPECT_NO_THROW(parse_nnet(head + "1,2,\n3,\n", "good.nnet"));
}

TEST(Nnet, BoxFromMetadataIsCheckedAgainstTheNetwork) {
  Network net = parse_nnet(kSmall, "small.nnet");
  net.metadata[kNnetInputMin] = "0,1,2";  // three bounds for two inputs
  EXPECT_FALSE(nnet_input_box(net));
  // The writer then falls back to unbounded, and the reader stores nothing.
  Network back = parse_nnet(to_text(net), "w.nnet");
  EXPECT_TRUE(back.metadata.empty());
}

TEST(Nnet, MessagesNameTheFileAndEscapeControlCharacters) {
  // An infinite bound in the file: the domain's message names the model file.
  const fs::path min_inf = test::fixtures_dir() / "robustness" / "nnet" / "min_inf.nnet";
  Network net = read_nnet(min_inf);
  EXPECT_EQ(net.source, min_inf.string());
  try {
    default_box(net);
    ADD_FAILURE() << "an infinite bound was accepted";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(min_inf.string() + ": model metadata nnet.input_min", 0), 0u) << msg;
    EXPECT_NE(msg.find("infinite"), std::string::npos) << msg;
  }
  // A field quoted from the file keeps the message on one line and the terminal safe.
  const std::string head = "1,2,1,2,\n2,1,\n0,\n0,0,\n1,1,\n0,0,0,\n1,1,1,\n";
  const std::string msg = error_of(head + "1,x\x01y\x1b[2J,\n0.5,\n");
  EXPECT_NE(msg.find("'x\\x01y\\x1b[2J'"), std::string::npos) << msg;
  for (char c : msg) EXPECT_GE(static_cast<unsigned char>(c), 32u) << msg;
}

TEST(Nnet, ANetworkWithASoftmaxIsRefusedNotWrittenWithoutIt) {
  Network net = parse_nnet(kSmall, "small.nnet");
  net.output_activation = OutputActivation::softmax;
  std::ostringstream out;
  try {
    write_nnet(net, out, ElementType::float64);
    ADD_FAILURE() << "written";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("ends with a Softmax, which the .nnet format cannot store"),
              std::string::npos)
        << e.what();
  }
  EXPECT_TRUE(out.str().empty());
  const fs::path dir = test::temp_dir("nnet_softmax");
  EXPECT_THROW(write_nnet(net, dir / "s.nnet"), InputError);
  EXPECT_FALSE(fs::exists(dir / "s.nnet"));
  fs::remove_all(dir);
}

// ONNX -> .nnet -> ONNX on the 45 ACAS Xu networks: the weights and outputs
// are identical to those of ONNX -> ONNX.
TEST(Nnet, AcasXuOnnxToNnetToOnnx) {
  fs::path folder = test::models_dir() / "acasxu";
  ASSERT_TRUE(fs::exists(folder / "ACASXU_run2a_1_1_batch_2000.onnx")) << "no models in " << folder;
  fs::path dir = test::temp_dir("nnet-acas");
  std::mt19937_64 rng(2024);
  int models = 0;
  for (int a = 1; a <= 5; ++a) {
    for (int b = 1; b <= 9; ++b) {
      fs::path onnx = folder / fmt::format("ACASXU_run2a_{}_{}_batch_2000.onnx", a, b);
      SCOPED_TRACE(onnx.string());
      Network original = read_onnx(onnx);
      write_nnet(original, dir / "m.nnet", {ElementType::float32, {onnx}});
      Network from_nnet = read_nnet(dir / "m.nnet");
      EXPECT_EQ(from_nnet.input.name, original.input.name);
      EXPECT_EQ(from_nnet.input.shape, original.input.shape);
      EXPECT_EQ(from_nnet.output.name, original.output.name);
      EXPECT_EQ(from_nnet.input.type, ElementType::float32);
      write_onnx(from_nnet, dir / "via_nnet.onnx");
      write_onnx(original, dir / "direct.onnx");
      Network via = read_onnx(dir / "via_nnet.onnx"), direct = read_onnx(dir / "direct.onnx");
      expect_identical(via, direct);
      // Layers the ONNX reader did not change (all but the first, where the
      // input Sub is folded) keep the file's float32 weights bit for bit.
      for (std::size_t l = 1; l < original.depth(); ++l) {
        EXPECT_EQ(via.layers[l].weights, original.layers[l].weights);
        EXPECT_EQ(via.layers[l].bias, original.layers[l].bias);
      }
      Eigen::MatrixXd X =
          test::random_points(Eigen::VectorXd::Constant(5, -0.6), Eigen::VectorXd::Constant(5, 0.6), 200, rng);
      EXPECT_EQ(via.evaluate(X), direct.evaluate(X));
      EXPECT_LE((via.evaluate(X) - original.evaluate(X)).cwiseAbs().maxCoeff(), 1e-5);
      ++models;
    }
  }
  EXPECT_EQ(models, 45);
  fs::remove_all(dir);
}
