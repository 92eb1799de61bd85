"""Every data set dlabs uses, declared once: files, checksums, upstream URLs.

Checksums are those of the files in the shared mirror (see each folder's SOURCE.md); where the
mirror holds a repacked form (text-only IMDB, re-encoded LFW/UTKFace images) the upstream
original is declared beside it under the same role, with the checksum its publisher gives, and
the lab's reader reads both forms.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DataFile:
    """One accepted file: its name, checksum (``sha256:<hex>`` or ``md5:<hex>``) and URL.

    Several files may share a `role` (e.g. the mirror's repacked archive and the upstream
    original): `fetch` returns the first of them that is available, in declaration order.
    """

    name: str
    checksum: str
    url: str | None = None
    role: str = ""
    size: int | None = None

    @property
    def key(self) -> str:
        return self.role or self.name


@dataclass(frozen=True)
class Dataset:
    name: str
    files: tuple[DataFile, ...]
    description: str = ""
    citation: str = ""

    def roles(self) -> list[str]:
        return list(dict.fromkeys(f.key for f in self.files))


_REGISTRY: dict[str, Dataset] = {}


def declare(ds: Dataset) -> Dataset:
    if ds.name in _REGISTRY:
        raise ValueError(f"data set {ds.name!r} declared twice")
    _REGISTRY[ds.name] = ds
    return ds


UCI = "https://archive.ics.uci.edu/ml/machine-learning-databases"

declare(Dataset(
    name="boston",
    description="Boston housing (Harrison & Rubinfeld 1978): 506 tracts x 13 features, MEDV target",
    citation="Harrison, D. and Rubinfeld, D.L., J. Environ. Economics & Management 5, 81-102, 1978",
    files=(
        DataFile("housing.data", "sha256:4a8425d42eb99b76feb7ee7cf0fb1d897a6cd19b72c437e4855d767cabb7e24e",
                 f"{UCI}/housing/housing.data"),
        DataFile("housing.names", "sha256:471253e2296eef2843272561685fc4d3ef123c8f0d1d3cc60ab13f37f7a02d4c",
                 f"{UCI}/housing/housing.names"),
    ),
))

declare(Dataset(
    name="california_housing",
    description="California housing (Pace & Barry 1997): 20,640 block groups, raw block totals",
    citation="Pace, R.K. and Barry, R., Statistics and Probability Letters 33, 291-297, 1997",
    files=(
        DataFile("cal_housing.data", "sha256:a2b44dcc7e1c9091b43c4f458b25cbd1f7e8068d08edd26bc4703108d3fa6214"),
        DataFile("cal_housing.domain", "sha256:49875a8323c6149941a1b7467942df111d255c3693dea491549a2eb94f5e32fd"),
    ),
))

declare(Dataset(
    name="letter",
    description="UCI letter recognition: 20,000 rows, letter then 16 integer features, no header",
    citation="Frey, P.W. and Slate, D.J., Machine Learning 6(2), 1991",
    files=(
        DataFile("letter-recognition.data", "sha256:2b89f3602cf768d3c8355267d2f13f2417809e101fc2b5ceee10db19a60de6e2",
                 f"{UCI}/letter-recognition/letter-recognition.data"),
        DataFile("letter-recognition.names", "sha256:128b85adc32bd58a93ed6e1df136b1d7c636f85f290ba3db655ccaa19c86d324",
                 f"{UCI}/letter-recognition/letter-recognition.names"),
    ),
))

_MNIST = "https://ossci-datasets.s3.amazonaws.com/mnist"
declare(Dataset(
    name="mnist",
    description="MNIST handwritten digits, official 60k train / 10k test, idx format",
    citation="LeCun, Y. et al., Proc. IEEE 86(11), 1998",
    files=tuple(
        DataFile(name, f"sha256:{sha}", f"{_MNIST}/{name}")
        for name, sha in [
            ("train-images-idx3-ubyte.gz", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
            ("train-labels-idx1-ubyte.gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
            ("t10k-images-idx3-ubyte.gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
            ("t10k-labels-idx1-ubyte.gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
        ]
    ),
))

_FASHION = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com"
declare(Dataset(
    name="fashion_mnist",
    description="Fashion-MNIST (Zalando), official 60k train / 10k test, idx format",
    citation="Xiao, H., Rasul, K., Vollgraf, R., arXiv:1708.07747, 2017",
    files=tuple(
        DataFile(name, f"sha256:{sha}", f"{_FASHION}/{name}")
        for name, sha in [
            ("train-images-idx3-ubyte.gz", "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
            ("train-labels-idx1-ubyte.gz", "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
            ("t10k-images-idx3-ubyte.gz", "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
            ("t10k-labels-idx1-ubyte.gz", "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
        ]
    ),
))

declare(Dataset(
    name="imdb",
    description="Large Movie Review Dataset v1.0: raw text, official 25k train / 25k test",
    citation="Maas, A.L. et al., Learning Word Vectors for Sentiment Analysis, ACL 2011",
    files=(
        DataFile("aclImdb_v1_text.tar.gz", "sha256:347f2b26c66b2620cc436c0521a67ba553ea86518ad31a8487854a59486043c8",
                 role="archive"),
        DataFile("aclImdb_v1.tar.gz", "md5:7c2ac02c03563afcf9b574c7e56c153a",
                 "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz", role="archive"),
    ),
))

declare(Dataset(
    name="google_stock",
    description="Google stock prices: the course's 2012-2016 train / Jan 2017 test CSVs and GOOGL daily 2004-2021",
    files=(
        DataFile("Google_Stock_Price_Train.csv", "sha256:4562853ef186ae4ffbe7511df2b282a915f2385f0b183d91546ebd2e4d79c2b2"),
        DataFile("Google_Stock_Price_Test.csv", "sha256:ca5da062e65fa9b6e280ea0ad57e510fc9b62a99f6aa2d4b39641008022fd1a3"),
        DataFile("GOOGL_yahoo_2004-08-19_2021-08-30.csv",
                 "sha256:1db9251fed523a1819b938bb02b86626cf266fd62770d2c2e0652ec4ddd11781"),
    ),
))

declare(Dataset(
    name="lfw",
    description="Labeled Faces in the Wild: 13,233 images of 5,749 people, with View 2 pairs.txt",
    citation="Huang, G.B. et al., UMass Amherst Technical Report 07-49, 2007",
    files=(
        DataFile("lfw_center150_q90.tar.gz", "sha256:e1e051a3762416d7b0165e6c5834117857a926a494e2c6ae09fc79c4c0dff78e",
                 role="images"),
        DataFile("lfw.tgz", "md5:a17d05bd522c52d84eca14327a23d494",
                 "http://vis-www.cs.umass.edu/lfw/lfw.tgz", role="images"),
        DataFile("pairs.txt", "sha256:ea42330c62c92989f9d7c03237ed5d591365e89b3e649747777b70e692dc1592",
                 "http://vis-www.cs.umass.edu/lfw/pairs.txt"),
    ),
))

declare(Dataset(
    name="utkface",
    description="UTKFace aligned and cropped faces: 23,708 images labelled age_gender_race in the file name",
    citation="Zhang, Z., Song, Y., Qi, H., Age Progression/Regression by Conditional Adversarial Autoencoder, CVPR 2017",
    files=(
        DataFile("UTKFace_100x100_q90.tar.gz", "sha256:fa30848cd65280e98714fd12c2ec45cb48d86f867d499873b82cabb641999ab2",
                 role="images"),
    ),
))

BW_SAMPLES = {  # colorize: the old black-and-white photos the report colours (file name: sha256)
    "1890CliffHouseSF.jpg": "9c3ad3ce40903fb1bddd8c664c29c6584b712358ff133963414a12e997c8fccf",
    "1899NycBlizzard.jpg": "7e8120cd3607c0e7be2faaa63152970642130e0b2d679ce3e3eed92725b4feac",
    "1909Chicago.jpg": "4e0069f1da1ddfc60139c28df47ebcac7911958e996711c01f262377cf9a8133",
    "abe.jpg": "36931954c9270a22a4a701683dd5bcb963564cee52a321c46d93ca13c87dce11",
    "Chief.jpg": "bae0d5eab23dc1d67af8f45f54b916f0f382bc5a0db6fd137ad52eb37c115563",
    "covered-wagons-traveling.jpg": "981582f96826c0857b963db99c1bac979d09cc0b118bf0beaf3f58271ac9caf3",
    "dustbowl_1.jpg": "6283d18816c967f153dfbdf0c2c0e0c6c24c2b7b603d0349d8a61187a07b9293",
    "EasterNyc1911.jpg": "fb6b653fcdd3c78015a504b8fc60971080182b9abf37b8563424de74ee51e72e",
    "HelenKeller.jpg": "55e1390229c020eb2decc15a473fa21694b070bbe63895366df9a7f4ba887ffb",
    "LibraryOfCongress1910.jpg": "dcf92f37d1bd89ebbffb23374cb50d9967f4d21780cb64042f475387d94d6376",
    "Locomotive1880s.jpg": "5f6637d8d8d2b59e8d1245532ba930e9e93e9eb782c431e5a7ce1c2edc5b7038",
    "LondonUnderground1860.jpg": "66c1f8ffb1ce4b5ff29aa7229bf423b1e75bf702f01518282ac73b3f7977f1d0",
    "MadisonSquare1900.jpg": "0f73e002232dcb53e71f8156d37ff0f756bb3bca69499a260ea00e4144696243",
    "marktwain.jpg": "e8a8cc58d84b5090bbac0987c5dd93728d92b3caa6540a3d02c621f319e4f949",
    "migrant_mother.jpg": "c9b22149cd2e97e2bac69b603d6ba4fcfb0bc4f29c7ed3eb08463e43ad62e631",
    "redwood_lumberjacks.jpg": "8bd39dd73d8b8b2dfb91d69c3d8e644b1f9b8795487d341060455180963fc1a9",
    "Rutherford_Hayes.jpg": "6141155cdadf898997fd88a00c30c5da9f8802980bed9740367e02be2558ac5a",
    "SanFran1851.jpg": "35968ec120dc44f309b2a3aa21c8b99e0b6a95917a78623a3fd9df019d786a35",
    "WaltWhitman.jpg": "afd21fbd07b4718117e3dbb62c492cc083520bfe20842cdea14d1f41158a5507",
}
declare(Dataset(
    name="colorize",
    description="3,846 colour flower photos (128x128) for training a colorizer; 19 genuine old B&W photos for demos",
    files=(
        DataFile("photos_160.tar.gz", "sha256:4f2482cc6753d6bb6dee73f8409f478c9e9371b9a72446722ae32ab409d4df7d"),
        *(DataFile(f"bw_samples/{name}", f"sha256:{sha}") for name, sha in BW_SAMPLES.items()),
    ),
))

declare(Dataset(
    name="colorize_scenes",
    description="1,632 colour photos of outdoor scenes (160x160; buildings, forest, glacier, mountain, sea, street, "
                "272 each) from the Intel Image Classification images, for training a colorizer. Licence: none "
                "stated upstream; research and teaching use only, do not redistribute (see the mirror's SOURCE.md)",
    citation="Intel Image Classification (Intel Scene Classification challenge, Analytics Vidhya; Kaggle "
             "puneet6060/intel-image-classification), via github.com/afroozsheikh/Intel-Image-Classifier@5b571f44",
    files=(
        DataFile("scenes_160.tar.gz", "sha256:6b26c33f81055773428bbad99de4a5182ed45fc77096a98f9629c568b2d4daeb"),
    ),
))
