import Foundation
import Testing
@testable import Plugins
import Runtime

@Suite struct DatasetTests {
    static let fashionAvailable = FileManager.default.fileExists(atPath: FashionMNISTDataset.defaultDirectory + "/t10k-images-idx3-ubyte.gz")

    func maskPixels(_ m: Tensor) -> Int { m.scalars.filter { $0 > 0.5 }.count }

    /// Mean RGB over a mask's pixels.
    func meanColour(_ image: Tensor, _ mask: Tensor) -> [Double] {
        let plane = image.shape[1] * image.shape[2]
        let (img, m) = (image.scalars, mask.scalars)
        var sum = [0.0, 0.0, 0.0], n = 0.0
        for p in 0..<plane where m[p] > 0.5 {
            for c in 0..<3 { sum[c] += Double(img[c * plane + p]) }
            n += 1
        }
        return sum.map { $0 / Swift.max(n, 1) }
    }

    @Test func registryListsTheDatasets() throws {
        let names = Registry(builtins: true).datasets.map(\.name)
        #expect(names == ["an8flower", "fashion-mnist", "folder", "shapes-loc"])
        #expect(throws: PluginError.self) { try Registry().dataset("an8flowr") }
    }

    @Test func an8flowerIsDeterministicAndWellFormed() throws {
        for variant in An8FlowerDataset.Variant.allCases {
            let a = try An8FlowerDataset(variant: variant, split: "train", size: 48, count: 24, seed: 7)
            let b = try An8FlowerDataset(variant: variant, split: "train", size: 48, count: 24, seed: 7)
            let other = try An8FlowerDataset(variant: variant, split: "train", size: 48, count: 24, seed: 8)
            let test = try An8FlowerDataset(variant: variant, split: "test", size: 48, count: 24, seed: 7)
            #expect(a.classNames.count == (variant == .single6c ? 6 : 12))
            for i in [0, 5, 13] {
                let (x, y) = (try a.example(i), try b.example(i))
                #expect(x.image.scalars == y.image.scalars && x.mask!.scalars == y.mask!.scalars && x.label == y.label)
                #expect(x.image.scalars != (try other.example(i)).image.scalars)
                #expect(x.image.scalars != (try test.example(i)).image.scalars)
                #expect(x.image.shape == [3, 48, 48] && x.mask!.shape == [1, 48, 48])
                #expect(x.image.scalars.allSatisfy { $0 >= 0 && $0 <= 1 })
                #expect(maskPixels(x.mask!) > 4)
                // Anti-aliased: some pixels are between the background and the part colours.
                #expect(Set(x.image.scalars).count > 50)
            }
            // Random access in any order gives the same example.
            #expect((try a.example(13)).image.scalars == (try b.example(13)).image.scalars)
        }
        #expect(throws: PluginError.self) { try An8FlowerDataset(split: "val") }
        #expect(throws: PluginError.self) { try An8FlowerDataset(count: 3).example(3) }
    }

    @Test func an8flowerClassesDifferByTheColourOfTheDefinedPart() throws {
        // single-6c: the hue of the masked centre identifies the class; double-12c: the same
        // colours, and the mask lies on the centre (classes 0-5) or on a petal (6-11).
        for variant in An8FlowerDataset.Variant.allCases {
            let ds = try An8FlowerDataset(variant: variant, split: "test", size: 64, count: 48, seed: 3)
            let classes = ds.classNames.count
            var means = [[Double]](repeating: [0, 0, 0], count: classes), counts = [Int](repeating: 0, count: classes)
            for i in 0..<ds.count {
                let ex = try ds.example(i)
                let m = meanColour(ex.image, ex.mask!)
                // The discriminative region is saturated (max - min channel large), nuisance is not.
                #expect(m.max()! - m.min()! > 0.5, "example \(i) class \(ex.label): mean colour \(m)")
                for c in 0..<3 { means[ex.label][c] += m[c] }
                counts[ex.label] += 1
            }
            let colours = zip(means, counts).map { m, n in m.map { $0 / Double(n) } }
            for i in 0..<classes {
                for j in (i + 1)..<classes where i % 6 != j % 6 {
                    let d = zip(colours[i], colours[j]).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
                    #expect(d > 0.4, "classes \(i) and \(j) have mean colours \(colours[i]) and \(colours[j])")
                }
            }
        }
        // double-12c: the part carrying the colour differs by shape: the centre's mask is a
        // disk (isotropic), a petal's an ellipse (elongated), whatever the rotation.
        let ds = try An8FlowerDataset(variant: .double12c, split: "train", size: 64, count: 48, seed: 0)
        for i in 0..<ds.count {
            let ex = try ds.example(i)
            let ratio = elongation(ex.mask!)
            if ex.label < 6 { #expect(ratio < 1.3, "centre mask of example \(i) has elongation \(ratio)") }
            else { #expect(ratio > 1.8, "petal mask of example \(i) has elongation \(ratio)") }
        }
    }

    /// Square root of the ratio of the principal second moments of a mask's pixels.
    func elongation(_ mask: Tensor) -> Double {
        let (h, w) = (mask.shape[1], mask.shape[2]), m = mask.scalars
        var pts: [(Double, Double)] = []
        for y in 0..<h { for x in 0..<w where m[y * w + x] > 0.5 { pts.append((Double(x), Double(y))) } }
        let n = Double(pts.count), mx = pts.map(\.0).reduce(0, +) / n, my = pts.map(\.1).reduce(0, +) / n
        var sxx = 0.0, syy = 0.0, sxy = 0.0
        for (x, y) in pts { sxx += (x - mx) * (x - mx); syy += (y - my) * (y - my); sxy += (x - mx) * (y - my) }
        let tr = (sxx + syy) / n, det = (sxx * syy - sxy * sxy) / (n * n)
        let disc = (tr * tr / 4 - det).squareRoot()
        return ((tr / 2 + disc) / Swift.max(tr / 2 - disc, 1e-9)).squareRoot()
    }

    @Test func shapesLocBoxesContainTheirMasks() throws {
        let ds = try ShapesLocDataset(split: "train", size: 48, count: 16, seed: 2)
        let again = try ShapesLocDataset(split: "train", size: 48, count: 16, seed: 2)
        #expect(ds.classNames.count == 8)
        var labels = Set<Int>()
        for i in 0..<ds.count {
            let ex = try ds.example(i)
            labels.insert(ex.label)
            #expect(ex.image.scalars == (try again.example(i)).image.scalars)
            #expect(ex.image.shape == [3, 48, 48] && ex.mask!.shape == [1, 48, 48])
            let box = ex.box!
            #expect(box[0] >= 0 && box[1] >= 0 && box[2] <= 48 && box[3] <= 48 && box[0] < box[2] && box[1] < box[3])
            let m = ex.mask!.scalars
            var inside = 0
            for y in 0..<48 { for x in 0..<48 where m[y * 48 + x] > 0.5 {
                #expect(x >= box[0] && x < box[2] && y >= box[1] && y < box[3])
                inside += 1
            } }
            #expect(inside > 20)
            // The box is tight: every edge row/column holds a mask pixel.
            #expect((box[0]..<box[2]).contains { m[box[1] * 48 + $0] > 0.5 })
            #expect((box[0]..<box[2]).contains { m[(box[3] - 1) * 48 + $0] > 0.5 })
        }
        #expect(labels.count == 8)
        let batch = try ds.batch([0, 1, 2])
        #expect(batch.images.shape == [3, 3, 48, 48] && batch.truth.masks?.shape == [3, 1, 48, 48] && batch.truth.boxes?.count == 3)
    }

    @Test(.enabled(if: fashionAvailable)) func fashionMNISTShapesAndNames() throws {
        let provider = FashionMNISTProvider()
        let ds = try provider.open(split: "test", params: Params(["limit": .int(50)]))
        #expect(ds.count == 50)
        #expect(ds.classNames == ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"])
        let ex = try ds.example(0)
        #expect(ex.image.shape == [1, 28, 28])
        #expect(ex.label == 9)  // the first t10k image is an ankle boot
        #expect(ex.image.scalars.allSatisfy { $0 >= 0 && $0 <= 1 } && ex.image.scalars.max()! > 0.5)
        let train = try FashionMNISTDataset(split: "train", limit: 10)
        let first = try train.example(0)
        #expect(train.count == 10 && first.label == 9)
    }

    @Test func fashionMNISTMissingFilesSayHowToGetThem() throws {
        let dir = NSTemporaryDirectory() + "no-fmnist-\(UInt32.random(in: 0...UInt32.max))"
        do {
            _ = try FashionMNISTProvider().open(split: "train", params: Params(["path": .string(dir)]))
            Issue.record("expected an error")
        } catch let e as PluginError {
            #expect(e.description.contains("scripts/bootstrap") && e.description.contains(dir))
        }
    }

    @Test func folderDatasetReadsClassSubfolders() throws {
        let root = NSTemporaryDirectory() + "folder-ds-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        for (c, name) in ["cat", "dog"].enumerated() {
            try FileManager.default.createDirectory(atPath: root + "/" + name, withIntermediateDirectories: true)
            for k in 0..<2 {
                let v = Float(c * 2 + k) / 4
                let img = Tensor(shape: [3, 10, 12]) { b in for i in 0..<b.count { b[i] = i < 120 ? v : 1 - v } }
                try writePNG(img, path: "\(root)/\(name)/\(k).png")
            }
        }
        let ds = try ImageFolderProvider().open(split: "all", params: Params(["path": .string(root), "size": .int(8)]))
        #expect(ds.count == 4 && ds.classNames == ["cat", "dog"])
        let ex = try ds.example(2)
        #expect(ex.label == 1 && ex.image.shape == [3, 8, 8])
        #expect(Swift.abs(ex.image.scalars[0] - 0.5) < 0.01)
        let gray = try ImageFolderDataset(path: root, gray: true)
        #expect((try gray.example(0)).image.shape == [1, 10, 12])
        #expect(throws: PluginError.self) { try ImageFolderDataset(path: root + "/missing") }
        #expect(throws: PluginError.self) { try ImageFolderProvider().open(split: "train", params: Params()) }
    }
}
