@failure-mode @scenario-intune-license-missing
Feature: Intune license missing
  The user is in MDM scope but holds no Intune licence; enrollment fails with 80180018 and the join is rolled back.
  Guide section: Intune not enrolling

  Scenario: Intune license missing: the symptom
    Given the scenario "intune-license-missing"
    When the user tries to join the PC as the scenario describes
    Then Settings shows the error code "80180018"
    When the user restarts the PC and signs in with the Entra account
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : NO"
    And the device is not joined
    And the device is not enrolled in Intune

  Scenario: Intune license missing: the fix repairs it
    Given the scenario "intune-license-missing"
    When the user tries to join the PC as the scenario describes
    And the admin applies the scenario's fix
    And the user disconnects if needed and joins again
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : YES"
    And the device is joined
    And the device is enrolled in Intune
