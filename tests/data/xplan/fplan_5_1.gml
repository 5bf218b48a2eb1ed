<?xml version="1.0" encoding="UTF-8"?>
<!-- A small XPlanGML 5.1 Flächennutzungsplan-Ausschnitt of Dortmund, made for landreg's tests:
     two FP_BebauungsFlaeche, a gewerbliche Baufläche (G) and a Wohnbaufläche (W), by their
     allgemeine Art der baulichen Nutzung only; gml:featureMembers, srsName as http URI. -->
<xplan:XPlanAuszug xmlns:xplan="http://www.xplanung.de/xplangml/5/1" xmlns:gml="http://www.opengis.net/gml/3.2"
    xmlns:xlink="http://www.w3.org/1999/xlink" gml:id="GML_fnp">
  <gml:featureMembers>
    <xplan:FP_Plan gml:id="GML_fp">
      <xplan:name>FNP Dortmund, Ausschnitt Hafen</xplan:name>
      <xplan:raeumlicherGeltungsbereich>
        <gml:Polygon gml:id="GML_fp_poly" srsName="http://www.opengis.net/def/crs/EPSG/0/25832">
          <gml:exterior><gml:LinearRing><gml:posList>393500 5708000 393800 5708000 393800 5708200 393500 5708200 393500 5708000</gml:posList></gml:LinearRing></gml:exterior>
        </gml:Polygon>
      </xplan:raeumlicherGeltungsbereich>
      <xplan:gemeinde><xplan:XP_Gemeinde><xplan:ags>05913000</xplan:ags></xplan:XP_Gemeinde></xplan:gemeinde>
      <xplan:rechtsstand>4000</xplan:rechtsstand>
      <xplan:wirksamkeitsDatum>2004-12-21</xplan:wirksamkeitsDatum>
    </xplan:FP_Plan>
    <xplan:FP_BebauungsFlaeche gml:id="GML_fp_g">
      <xplan:position>
        <gml:Polygon gml:id="GML_fp_g_poly" srsName="http://www.opengis.net/def/crs/EPSG/0/25832">
          <gml:exterior><gml:LinearRing><gml:posList>393650 5708000 393800 5708000 393800 5708200 393650 5708200 393650 5708000</gml:posList></gml:LinearRing></gml:exterior>
        </gml:Polygon>
      </xplan:position>
      <xplan:flaechenschluss>true</xplan:flaechenschluss>
      <xplan:allgArtDerBaulNutzung>3000</xplan:allgArtDerBaulNutzung>
    </xplan:FP_BebauungsFlaeche>
    <xplan:FP_BebauungsFlaeche gml:id="GML_fp_w">
      <xplan:position>
        <gml:Polygon gml:id="GML_fp_w_poly" srsName="http://www.opengis.net/def/crs/EPSG/0/25832">
          <gml:exterior><gml:LinearRing><gml:posList>393500 5708000 393650 5708000 393650 5708200 393500 5708200 393500 5708000</gml:posList></gml:LinearRing></gml:exterior>
        </gml:Polygon>
      </xplan:position>
      <xplan:flaechenschluss>true</xplan:flaechenschluss>
      <xplan:allgArtDerBaulNutzung>1000</xplan:allgArtDerBaulNutzung>
    </xplan:FP_BebauungsFlaeche>
  </gml:featureMembers>
</xplan:XPlanAuszug>
